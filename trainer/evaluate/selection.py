"""Which epoch a classifier or regression run kept and why its training stopped, from its per-epoch validation
scores: the same record (and sentence) whether the Trainer or the media loop trained it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# How reports name the validation metric that picks the kept epoch.
METRIC_WORDS = {"macro_f1": "validation macro-F1", "rmse": "validation RMSE"}


def best_index(values: Sequence[float], greater_is_better: bool) -> int:
    """The first epoch with the best value (a later tie does not replace it, as in the Trainer)."""
    best = 0
    for index, value in enumerate(values):
        if (value > values[best]) if greater_is_better else (value < values[best]):
            best = index
    return best


def epoch_choice(
    history: Sequence[tuple[float, float]],
    metric: str,
    greater_is_better: bool,
    epochs_planned: float,
    patience: int,
) -> dict[str, Any] | None:
    """{"epoch", "metric", "value", "epochs_run", "epochs_planned", "stopped_early", "patience", "sentence"} from
    (epoch, validation value) pairs in order; None without validation (the last epoch is kept)."""
    if not history:
        return None
    best = best_index([value for _, value in history], greater_is_better)
    kept_epoch, kept_value = history[best]
    ran = history[-1][0]
    stopped_early = patience > 0 and ran < epochs_planned - 1e-6 and len(history) - 1 - best >= patience
    words = METRIC_WORDS.get(metric, f"validation {metric}")
    kept = f"kept epoch {kept_epoch:g} ({kept_value:.4g})"
    if stopped_early:
        sentence = (
            f"Stopped after epoch {ran:g} of {epochs_planned:g}: {words} had not improved for {patience} "
            f"epoch{'s' if patience != 1 else ''}; {kept}."
        )
    elif best == len(history) - 1:
        sentence = f"Trained all {epochs_planned:g} epochs; {words} was best at the last one, so {kept}."
    elif history[-1][1] == kept_value:
        sentence = (
            f"Trained all {epochs_planned:g} epochs; {words} did not improve after epoch {kept_epoch:g}, so {kept}."
        )
    else:
        sentence = f"Trained all {epochs_planned:g} epochs; {words} peaked earlier, so {kept}, not the last."
    return {
        "epoch": kept_epoch,
        "metric": metric,
        "value": kept_value,
        "epochs_run": ran,
        "epochs_planned": epochs_planned,
        "stopped_early": stopped_early,
        "patience": patience,
        "sentence": sentence,
    }


def trainer_history(log_history: Sequence[dict[str, Any]], metric: str) -> list[tuple[float, float]]:
    """(epoch, value) of each evaluation in a Trainer's log history."""
    key = f"eval_{metric}"
    return [(float(row.get("epoch") or 0.0), float(row[key])) for row in log_history if key in row]


# Epochs without a better validation score after which the planners' runs stop.
PATIENCE = 2


def propose_patience(proposed: dict[str, Any], reasons: dict[str, str], user: dict[str, Any] | None = None) -> None:
    """The planners' early stopping, with its reason (a classifier's or regressor's plan). Epochs the user named
    all run: a small validation split can sit still for a few epochs before the model catches on (a pair
    classifier on 12 validation rows was stopped at epoch 3 of 8 at 0.58 accuracy, where all 8 reached 1.0)."""
    named = {key for key, value in (user or {}).items() if value is not None}
    if named & {"epochs", "max_steps"}:
        proposed["early_stopping_patience"] = 0
        reasons["early_stopping_patience"] = (
            "You named the epochs, so all of them run (say 'early stopping patience 2' to stop sooner); the best "
            "epoch by validation is still the one kept."
        )
        return
    proposed["early_stopping_patience"] = PATIENCE
    reasons["early_stopping_patience"] = (
        f"Training stops after {PATIENCE} epochs without a better validation score, and the best epoch is kept, "
        "so the epochs above are a ceiling, not a cost."
    )
