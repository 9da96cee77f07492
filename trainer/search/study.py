"""A hyperparameter search: an Optuna study whose every trial is a real run in the registry.

The study's state (trials, their values and intermediate values, pruning) is Optuna's, in the workspace's
search.db through its RDB storage, so a search survives a restart: `run_study` on a study that exists finishes
the trials it still owes. The registry holds the study's settings and which runs are its trials
(trainer/store/studies.py). Runs are started by a `launch(config) -> run id` the caller hands in (the one launch
path of tools/launch.py), followed through their metrics.jsonl, and a trial the median pruner gives up on is
stopped through its backend.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from typing import Any

from trainer.backends.runs import run_status, stop_run
from trainer.core.errors import BusyError, UserError
from trainer.core.fileio import read_jsonl
from trainer.core.workspace import Workspace
from trainer.plan.config import resolve_config
from trainer.search.results import summary
from trainer.search.space import SearchParam, planned_values, suggest
from trainer.search.storage import counted, open_study, seconds_spent
from trainer.store.registry import ACTIVE, FINISHED, Registry

# How often a trial's run is looked at (status, metrics.jsonl), and a busy machine asked again.
POLL_S = 1.0
BUSY_RETRY_S = 5.0
# How long a pruned trial's run gets to stop cleanly.
PRUNE_GRACE_S = 10.0
# A search whose first trials all fail stops after this many rather than failing the same way again.
MAX_FAILURES_WITHOUT_RESULT = 2
# The search's name in the registry: letters, digits, dashes and underscores.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
INTERRUPTED = (
    "The search stopped before this trial finished (its process was killed); the resumed search ran these settings "
    "again as a new trial."
)

# launch(config, registered) starts a run of `config` and returns its id, calling registered(run_id) as soon as the
# run is in the registry, before its worker starts.
Launch = Callable[[dict[str, Any], Callable[[int], None]], int]
Event = Callable[[dict[str, Any]], None]


def new_name(registry: Registry) -> str:
    """The next free "search-N"."""
    taken = {study["name"] for study in registry.list_studies()}
    number = len(taken) + 1
    while f"search-{number}" in taken:
        number += 1
    return f"search-{number}"


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UserError(f"'{name}' cannot name a search; use letters, digits, '-' and '_' (e.g. search-1).")
    return name


def metric_values(ws: Workspace, registry: Registry, run_id: int, metric: str) -> list[float]:
    """The validation values of `metric` the run has written to metrics.jsonl so far, one per evaluation."""
    run_dir = ws.run_dir_of(registry.get_run(run_id))
    return [
        float(row[metric]) for row in read_jsonl(run_dir / "metrics.jsonl") if isinstance(row.get(metric), int | float)
    ]


def kept_value(registry: Registry, run_id: int, values: list[float], direction: int) -> float:
    """A finished trial's value: the validation of the epoch its run kept (the best one when its task keeps the
    best epoch, else the last)."""
    from trainer.tasks.registry import get_task

    if get_task(registry.get_run(run_id).task).keeps_best_epoch:
        return max(values, key=lambda value: direction * value)
    return values[-1]


def note_kept_loss(ws: Workspace, registry: Registry, trial: Any, run_id: int, metric: str, value: float) -> None:
    """Keep the validation loss of the epoch that gave `value` on the trial: with a few dozen validation rows
    macro-F1 often ties, and the lower loss then says which trial fits the validation rows better."""
    run_dir = ws.run_dir_of(registry.get_run(run_id))
    rows = [row for row in read_jsonl(run_dir / "metrics.jsonl") if row.get(metric) == value]
    loss = rows[0].get("eval_loss") if rows else None
    if isinstance(loss, int | float):
        trial.set_user_attr("eval_loss", float(loss))


def abandon(
    ws: Workspace, registry: Registry, study: Any, trial: Any, run_id: int | None, status: str, reason: str
) -> None:
    """End a trial its search could not follow to the end: stop its run (marked `status` with `reason`), fail the
    trial as interrupted (it uses no budget) and queue its settings again as a new trial."""
    import optuna
    from optuna.trial import TrialState

    if run_id is not None:
        if run_status(ws, registry, run_id)["status"] in ACTIVE:
            stop_run(ws, registry, run_id, grace_s=PRUNE_GRACE_S)
        registry.update_run(run_id, status=status, error=reason)
    optuna.trial.Trial(study, trial._trial_id).set_user_attr("interrupted", True)
    study.tell(trial.number, state=TrialState.FAIL)
    if trial.params:
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def recover(ws: Workspace, registry: Registry, name: str, study: Any, metric: str, direction: int) -> None:
    """Settle the trials a killed search left running: a run that has since succeeded counts with its value;
    any other is stopped, marked failed, and its settings queued again as a new trial."""
    import optuna
    from optuna.trial import TrialState

    # The registry learns a trial's run first, so a search killed right after the launch still finds it.
    runs = {trial: run_id for run_id, trial in registry.study_runs(name).items()}
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = frozen.user_attrs.get("run_id", runs.get(frozen.number))
        if run_id is not None:
            values = metric_values(ws, registry, int(run_id), metric)
            if run_status(ws, registry, int(run_id))["status"] == "succeeded" and values:
                value = kept_value(registry, int(run_id), values, direction)
                note_kept_loss(ws, registry, optuna.trial.Trial(study, frozen._trial_id), int(run_id), metric, value)
                study.tell(frozen.number, value)
                continue
        abandon(ws, registry, study, frozen, None if run_id is None else int(run_id), "failed", INTERRUPTED)


def _launch_when_free(launch: Launch, config: dict[str, Any], registered: Callable[[int], None]) -> int:
    while True:
        try:
            return launch(config, registered)
        except BusyError:
            time.sleep(BUSY_RETRY_S)  # the machine trains as many runs as it may; the trial waits its turn


def run_trial(
    ws: Workspace, registry: Registry, name: str, study: Any, settings: dict[str, Any], launch: Launch, event: Event
) -> None:
    """Ask the study for one trial, train it as a run, report each validation to the pruner, and tell the end."""
    space = [SearchParam.from_dict(param) for param in settings["space"]]
    metric = settings["metric"]
    trial = study.ask()
    params = suggest(trial, space)
    config = resolve_config(settings["config"], params).to_dict()

    def registered(run_id: int) -> None:
        registry.add_study_run(name, run_id, trial.number)
        trial.set_user_attr("run_id", run_id)

    run_id = _launch_when_free(launch, config, registered)
    event({"event": "trial_started", "trial": trial.number, "run_id": run_id, "params": params})
    try:
        _follow_trial(ws, registry, name, study, trial, run_id, (metric, int(settings["direction"])), event)
    except BaseException:
        # Stopped (Ctrl-C, a stop request) mid-trial: its run stops too and the settings wait for a resume. Should
        # that fail as well, the next start settles the trial (recover), so the stop itself is what is raised.
        reason = f"{name} was stopped before this trial finished; resuming the search runs these settings again."
        with contextlib.suppress(Exception):
            abandon(ws, registry, study, trial, run_id, "cancelled", reason)
        raise


def _follow_trial(
    ws: Workspace,
    registry: Registry,
    name: str,
    study: Any,
    trial: Any,
    run_id: int,
    objective: tuple[str, int],
    event: Event,
) -> None:
    from optuna.trial import TrialState

    metric, direction = objective
    reported = 0
    while True:
        status = run_status(ws, registry, run_id)["status"]
        values = metric_values(ws, registry, run_id, metric)
        for value in values[reported:]:
            reported += 1
            trial.report(value, step=reported)
            event({"event": "trial_reported", "trial": trial.number, "step": reported, "value": value})
            if status not in FINISHED and trial.should_prune():
                stop_run(ws, registry, run_id, grace_s=PRUNE_GRACE_S)
                registry.update_run(
                    run_id,
                    status="cancelled",
                    error=f"Pruned by {name}: its {metric} after {reported} evaluation(s) was worse than the median "
                    "of earlier trials.",
                )
                study.tell(trial, state=TrialState.PRUNED)
                event({"event": "trial_pruned", "trial": trial.number, "run_id": run_id, "value": value})
                return
        if status in FINISHED:
            break
        time.sleep(POLL_S)
    if status == "succeeded" and values:
        value = kept_value(registry, run_id, values, direction)
        note_kept_loss(ws, registry, trial, run_id, metric, value)
        study.tell(trial, value)
        event({"event": "trial_finished", "trial": trial.number, "run_id": run_id, "value": value})
        return
    error = registry.get_run(run_id).error or f"the run ended {status} without a validation {metric}"
    trial.set_user_attr("error", error)
    study.tell(trial, state=TrialState.FAIL)
    event({"event": "trial_failed", "trial": trial.number, "run_id": run_id, "error": error})


def owed(study: Any, settings: dict[str, Any]) -> bool:
    """True while the study's trial and time budgets leave room for another trial."""
    done = [trial for trial in study.get_trials(deepcopy=False) if counted(trial)]
    trials, minutes = settings.get("trials"), settings.get("minutes")
    if trials is not None and len(done) >= int(trials):
        return False
    return not (minutes is not None and seconds_spent(study) >= float(minutes) * 60)


def _failing(study: Any) -> bool:
    from optuna.trial import TrialState

    finished = [trial for trial in study.get_trials(deepcopy=False) if counted(trial)]
    failures = [trial for trial in finished if trial.state == TrialState.FAIL]
    return len(failures) >= MAX_FAILURES_WITHOUT_RESULT and len(failures) == len(finished)


def run_study(
    ws: Workspace, registry: Registry, name: str, launch: Launch, event: Event | None = None
) -> dict[str, Any]:
    """Run (or resume) the search `name` of the registry until its budget is spent; return its summary."""
    row = registry.get_study(name)
    if row is None:
        raise UserError(f"There is no search named '{name}'; start one with 'tunechat search --data FILE'.")
    settings = row["settings"]
    event = event or (lambda _: None)
    registry.update_study(name, status="running", pid=os.getpid(), error=None)
    try:
        study = open_study(ws, name, int(settings["direction"]), int(settings["config"].get("seed") or 42))
        recover(ws, registry, name, study, settings["metric"], int(settings["direction"]))
        if not study.trials:
            # The plan's own settings go first: the search reports what it found against them.
            space = [SearchParam.from_dict(param) for param in settings["space"]]
            study.enqueue_trial(planned_values(settings["config"], space), user_attrs={"planned": True})
        while owed(study, settings):
            if _failing(study):
                raise UserError(
                    f"The first {MAX_FAILURES_WITHOUT_RESULT} trials of {name} failed; see their runs' train.log, "
                    "fix the data or plan, and start the search again."
                )
            run_trial(ws, registry, name, study, settings, launch, event)
    except BaseException as error:
        if isinstance(error, UserError):
            message = str(error)
        elif isinstance(error, Exception):
            message = f"The search failed ({error!r}); see its log, then resume it or start a new one."
        else:
            message = "Stopped on request; say 'resume the search' (or run tunechat search --name NAME) to finish it."
        registry.update_study(
            name, status="failed" if isinstance(error, Exception) else "stopped", pid=None, error=message
        )
        raise
    registry.update_study(name, status="finished", pid=None)
    return summary(ws, registry, name)
