"""Where a search's state lives: Optuna's RDB storage in the workspace's search.db (SQLite), so a study survives
a restart, and what of it counts against the budget."""

from __future__ import annotations

from typing import Any

from trainer.core.workspace import Workspace

# Optuna's storage of every study of the workspace, beside the registry.
SEARCH_DB = "search.db"
# The median pruner starts judging once this many trials have finished, and only from a trial's second validation
# on: the first epoch says little about a run with a lower learning rate or more epochs (measured on 200 reviews,
# judging the first epoch pruned 8 of 10 trials, some of them better than the plan at their end).
PRUNER_STARTUP_TRIALS = 3
# Trials report their validations as steps 1, 2, ...; Optuna judges a step from n_warmup_steps on.
PRUNE_FROM_EVALUATION = 2


def storage_url(ws: Workspace) -> str:
    return f"sqlite:///{ws.root / SEARCH_DB}"


def open_study(ws: Workspace, name: str, direction: int, seed: int = 42) -> Any:
    """The Optuna study `name` (created on first use), with the median pruner and a sampler seeded per restart,
    so a resumed search does not repeat the random trials it began with."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(storage_url(ws), engine_kwargs={"connect_args": {"timeout": 30}})
    existing = {summary.study_name: summary.n_trials for summary in optuna.get_all_study_summaries(storage)}
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize" if direction > 0 else "minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed + existing.get(name, 0)),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNE_FROM_EVALUATION
        ),
    )


def counted(trial: Any) -> bool:
    """True for a trial that used up the budget: finished, pruned or failed by itself (not by a killed search)."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not trial.user_attrs.get("interrupted")


def seconds_spent(study: Any) -> float:
    """Training time the study has spent on finished trials (a killed search's downtime is not spent)."""
    return sum(
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        for trial in study.get_trials(deepcopy=False)
        if trial.datetime_complete is not None and trial.datetime_start is not None
    )
