"""Compare runs side by side: which settings differ, their test metrics, their loss curves on one plot."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainer.backends.registry import all_backends, backend_of
from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from trainer.core.workspace import Workspace
from trainer.evaluate.held_out import held_out_note, held_out_of
from trainer.evaluate.plots import plot_loss_curves
from trainer.plan.config import FIELD_NAMES
from trainer.store.registry import Registry
from trainer.tasks.registry import task_of


def compare_runs(ws: Workspace, registry: Registry, run_ids: list[int]) -> dict[str, Any]:
    """Settings, metrics and loss curves of two or more runs; unfinished runs are shown as far as they got."""
    ids = list(dict.fromkeys(int(run_id) for run_id in run_ids))
    if len(ids) < 2:
        raise UserError("Comparing needs at least two different run ids, e.g. 'compare runs 1 and 2'.")
    runs = [registry.get_run(run_id) for run_id in ids]

    tasks = [task_of(run["config"] or run) for run in runs]
    # Every metric any of the compared runs' tasks reports, each once, in the order the tasks list them.
    specs = list({spec.name: spec for task in tasks for spec in task.metrics}.values())
    configs: list[dict[str, Any]] = []
    metrics: list[dict[str, float | None]] = []
    curves: dict[str, list[tuple[int, float]]] = {}
    notes: list[str] = []
    for run in runs:
        run_dir = ws.run_dir_of(run)
        config_path = run_dir / "config.json"
        configs.append(_backend_fields(read_json(config_path) if config_path.is_file() else dict(run["config"] or {})))
        log = read_jsonl(run_dir / "metrics.jsonl")
        curve = _training_loss(log)
        curves[f"run {run['id']}"] = curve
        metrics.append(_run_metrics(run, run_dir, log, curve, [spec.name for spec in specs]))
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
    for spec in specs:
        values = [run_metrics.get(spec.name) for run_metrics in metrics]
        best = _best(ids, values, spec.direction)
        metric_rows.append({"metric": spec.name, "description": spec.description, "values": values, "best_run": best})

    # Which held-out rows each run was scored on: equal hashes mean its metrics compare on the very same rows.
    held_out = [held_out_of(ws.run_dir_of(run)) for run in runs]
    same_rows = held_out_note(ids, held_out)
    if same_rows:
        notes.insert(0, same_rows)

    plot = ws.root / "comparisons" / f"compare-{'-'.join(str(run_id) for run_id in ids)}.png"
    plot_loss_curves(curves, plot, f"Training loss: runs {', '.join(str(run_id) for run_id in ids)}")
    # The best run by the rank metric of the first run's task, among the runs ranked by that same metric.
    rank = tasks[0].rank_metric
    rank_spec = tasks[0].metric(rank)
    ranked = [
        run_metrics.get(rank) if task.rank_metric == rank else None
        for task, run_metrics in zip(tasks, metrics, strict=True)
    ]
    return {
        "run_ids": ids,
        "statuses": [run["status"] for run in runs],
        "config_rows": config_rows,
        "metric_rows": metric_rows,
        "plot": str(plot),
        "best_run": _best(ids, ranked, rank_spec.direction if rank_spec else 1),
        "best_metric": rank,
        "notes": notes,
        "held_out": held_out,
        "base_models": _base_models(ws, runs, configs, [spec.name for spec in specs]),
    }


def loss_curve(run_dir: Path) -> list[tuple[int, float]]:
    """A run's training loss by step, from its metrics.jsonl (validation lines carry eval_loss and stay off it)."""
    return _training_loss(read_jsonl(run_dir / "metrics.jsonl"))


def _training_loss(log: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [(int(row["step"]), float(row["loss"])) for row in log if "loss" in row and "step" in row]


def _base_models(
    ws: Workspace, runs: Sequence[Mapping[str, Any]], configs: list[dict[str, Any]], names: list[str]
) -> list[dict[str, Any]]:
    """The models the compared runs started from, measured on their held-out rows (evaluation.json's "base"):
    one column each, its figures in the order of the metric rows; runs sharing a base model and its figures share
    the column."""
    columns: list[dict[str, Any]] = []
    for run, config in zip(runs, configs, strict=True):
        path = ws.run_dir_of(run) / "evaluation.json"
        evaluation = read_json(path) if path.is_file() else {}
        base = evaluation.get("base")
        if not isinstance(base, dict):
            continue
        values = [_number(base.get(name)) for name in names]
        if all(value is None for value in values):
            continue
        model = str(evaluation.get("base_model") or config.get("model") or "base model").rstrip("/").rsplit("/", 1)[-1]
        same = next((c for c in columns if c["model"] == model and c["values"] == values), None)
        if same is not None:
            same["run_ids"].append(run["id"])
        else:
            columns.append({"model": model, "run_ids": [run["id"]], "values": values})
    return columns


def _backend_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that apply to the run's backend: a backend's own settings only on its runs (so a hosted run
    shows no local training settings left at their defaults, and a local run no hosted ones)."""
    backend = backend_of(config)
    others = {name for other in all_backends() if other is not backend for name in other.own_fields}
    if backend.own_fields:
        return {k: v for k, v in config.items() if k in backend.own_fields or k in SHARED_FIELDS}
    return {k: v for k, v in config.items() if k not in others}


# Settings every backend uses.
SHARED_FIELDS = (
    *("data", "task", "text_column", "label_column", "backend", "model"),
    *("val_fraction", "test_fraction", "seed"),
)


def _run_metrics(
    run: Mapping[str, Any], run_dir: Path, log: list[dict[str, Any]], curve: list[tuple[int, float]], names: list[str]
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
    result = {name: _number(baseline if name == "baseline" else found.get(name)) for name in names}
    if "final_loss" in result and result["final_loss"] is None and curve:
        result["final_loss"] = curve[-1][1]
    if "train_seconds" in result and result["train_seconds"] is None and run["status"] == "succeeded":
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
