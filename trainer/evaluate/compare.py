"""Compare runs side by side: which settings differ, their test metrics, their loss curves on one plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainer.core.config import FIELD_NAMES
from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from trainer.core.workspace import Workspace
from trainer.evaluate.plots import plot_loss_curves
from trainer.store.registry import Registry

# (name, what it means, which direction is better: +1 higher, -1 lower, 0 neither)
METRICS: tuple[tuple[str, str, int], ...] = (
    ("accuracy", "share of test examples classified correctly", 1),
    ("macro_f1", "F1 averaged over classes, so rare classes count as much as common ones", 1),
    ("baseline", "test accuracy of always predicting the most common training class", 0),
    ("final_loss", "last logged training loss", -1),
    ("train_seconds", "wall-clock training time", 0),
)


def compare_runs(ws: Workspace, registry: Registry, run_ids: list[int]) -> dict[str, Any]:
    """Settings, metrics and loss curves of two or more runs; unfinished runs are shown as far as they got."""
    ids = list(dict.fromkeys(int(run_id) for run_id in run_ids))
    if len(ids) < 2:
        raise UserError("Comparing needs at least two different run ids, e.g. 'compare runs 1 and 2'.")
    runs = [registry.get_run(run_id) for run_id in ids]

    configs: list[dict[str, Any]] = []
    metrics: list[dict[str, float | None]] = []
    curves: dict[str, list[tuple[int, float]]] = {}
    notes: list[str] = []
    for run in runs:
        run_dir = ws.run_dir_of(run)
        config_path = run_dir / "config.json"
        configs.append(_backend_fields(read_json(config_path) if config_path.is_file() else dict(run["config"] or {})))
        log = read_jsonl(run_dir / "metrics.jsonl")
        curve = [(int(row["step"]), float(row["loss"])) for row in log if "loss" in row and "step" in row]
        curves[f"run {run['id']}"] = curve
        metrics.append(_run_metrics(run, run_dir, log, curve))
        note = _status_note(run["id"], run["status"], bool(curve))
        if note:
            notes.append(note)

    config_rows = []
    for name in FIELD_NAMES:
        values = [config.get(name) for config in configs]
        # A setting the run's backend does not use (None) is not a difference.
        applied = [value for value in values if value is not None]
        config_rows.append({"field": name, "values": values, "differs": _differs(applied) if applied else False})

    metric_rows = []
    for name, description, direction in METRICS:
        values = [run_metrics.get(name) for run_metrics in metrics]
        metric_rows.append(
            {"metric": name, "description": description, "values": values, "best_run": _best(ids, values, direction)}
        )

    plot = ws.root / "comparisons" / f"compare-{'-'.join(str(run_id) for run_id in ids)}.png"
    plot_loss_curves(curves, plot, f"Training loss: runs {', '.join(str(run_id) for run_id in ids)}")
    macro_f1 = [run_metrics.get("macro_f1") for run_metrics in metrics]
    return {
        "run_ids": ids,
        "statuses": [run["status"] for run in runs],
        "config_rows": config_rows,
        "metric_rows": metric_rows,
        "plot": str(plot),
        "best_run": _best(ids, macro_f1, 1),
        "notes": notes,
    }


# Settings only the OpenAI backend uses, and the ones both backends share; an OpenAI run shows no value
# for the local training settings (and a local run none for the OpenAI ones) instead of unused defaults.
OPENAI_FIELDS = ("suffix", "n_epochs", "openai_batch_size", "learning_rate_multiplier")
SHARED_FIELDS = (
    *("data", "task", "text_column", "label_column", "backend", "model"),
    *("val_fraction", "test_fraction", "seed"),
)


def _backend_fields(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("backend") == "openai":
        return {k: v for k, v in config.items() if k in SHARED_FIELDS or k in OPENAI_FIELDS}
    return {k: v for k, v in config.items() if k not in OPENAI_FIELDS}


def _run_metrics(
    run: dict[str, Any], run_dir: Path, log: list[dict[str, Any]], curve: list[tuple[int, float]]
) -> dict[str, float | None]:
    """The compared numbers: the registry's test metrics, else evaluation.json, else the training log."""
    found: dict[str, Any] = dict(run["metrics"] or {})
    evaluation_path = run_dir / "evaluation.json"
    if evaluation_path.is_file():
        for key, value in read_json(evaluation_path).items():
            found.setdefault(key, value)
    # The registry row flattens it to baseline_accuracy; evaluation.json keeps {"label", "accuracy", "macro_f1"}.
    baseline = found.get("baseline_accuracy")
    if baseline is None and isinstance(found.get("baseline"), dict):
        baseline = found["baseline"].get("accuracy")
    result = {
        "accuracy": _number(found.get("accuracy")),
        "macro_f1": _number(found.get("macro_f1")),
        "baseline": _number(baseline),
        "final_loss": _number(found.get("final_loss")),
        "train_seconds": _number(found.get("train_seconds")),
    }
    if result["final_loss"] is None and curve:
        result["final_loss"] = curve[-1][1]
    if result["train_seconds"] is None and run["status"] == "succeeded":
        elapsed = [row["elapsed_s"] for row in log if "loss" in row and "elapsed_s" in row]
        result["train_seconds"] = _number(elapsed[-1]) if elapsed else None
    return result


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _differs(values: list[Any]) -> bool:
    return any(value != values[0] for value in values[1:])


def _best(ids: list[int], values: list[float | None], direction: int) -> int | None:
    scored = [(value, run_id) for run_id, value in zip(ids, values, strict=True) if value is not None]
    if direction == 0 or not scored:
        return None
    # max() keeps the first of equal values, so ties go to the run named first.
    return max(scored, key=lambda pair: pair[0] * direction)[1]


def _status_note(run_id: int, status: str, has_curve: bool) -> str | None:
    if status == "running":
        return f"Run {run_id} is still running, so its loss curve and metrics are partial."
    if status in ("queued", "validating_files"):
        return f"Run {run_id} has not started training yet, so it has no loss curve or metrics."
    if status == "failed":
        ending = "; its curve shows how far it got." if has_curve else "."
        return f"Run {run_id} failed, so it has no test metrics{ending}"
    if status == "cancelled":
        return f"Run {run_id} was cancelled, so its curve and metrics are partial or missing."
    return None
