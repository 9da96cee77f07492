"""Why one run beat another: the winner by the rank metric and by how much, the settings that differ, what the
curves say, per-class and per-example changes, and one proposed next run with its reason.

Built on the comparison of runs (compare.py). Everything is listed from the losing run to the winning one (the
first run named to the second when neither won), so "fixed" means wrong in the loser and right in the winner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from trainer.core.workspace import Workspace
from trainer.evaluate.compare import compare_runs
from trainer.evaluate.explain_examples import example_changes
from trainer.evaluate.explain_next import propose_next, read_curve
from trainer.evaluate.plots import plot_loss_curves
from trainer.store.registry import Registry
from trainer.tasks.registry import task_of

# A gap of at most this many test examples, on a test split smaller than SMALL_TEST, is flagged as possibly chance.
CHANCE_EXAMPLES = 3
SMALL_TEST = 100


def explain_runs(ws: Workspace, registry: Registry, run_ids: list[int]) -> dict[str, Any]:
    """The explanation of how two runs differ in their results, and why (as far as their files tell)."""
    ids = list(dict.fromkeys(int(run_id) for run_id in run_ids))
    if len(ids) != 2:
        raise UserError("Explaining a comparison needs exactly two different runs, e.g. 'why did run 2 beat run 1?'.")
    comparison = compare_runs(ws, registry, ids)
    runs = {run_id: registry.get_run(run_id) for run_id in ids}
    folders = {run_id: ws.run_dir_of(run) for run_id, run in runs.items()}

    metric = str(comparison["best_metric"])
    spec = task_of(runs[ids[0]]["config"] or runs[ids[0]]).metric(metric)
    direction = spec.direction if spec is not None and spec.direction else 1
    row = next((row for row in comparison["metric_rows"] if row["metric"] == metric), None)
    values = dict(zip(ids, row["values"] if row else [None, None], strict=True))
    winner = comparison["best_run"]
    if values[ids[0]] == values[ids[1]] or None in values.values():
        winner = None  # a tie, or a run without the metric (failed, unfinished, another task), names no winner
    loser = next(run_id for run_id in ids if run_id != winner) if winner is not None else None
    order = [loser, winner] if winner is not None and loser is not None else ids
    label = spec.heading if spec is not None else metric.replace("_", " ")

    configs = {run_id: _config(folders[run_id], runs[run_id]) for run_id in ids}
    position = {run_id: ids.index(run_id) for run_id in ids}
    differences = [
        {"field": r["field"], "values": [r["values"][position[run_id]] for run_id in order]}
        for r in comparison["config_rows"]
        if r["differs"]
    ]
    logs = {run_id: read_jsonl(folders[run_id] / "metrics.jsonl") for run_id in ids}
    curves = [read_curve(run_id, logs[run_id]) for run_id in order]
    plot = _plot(ws, order, logs)
    evaluations = {run_id: _evaluation(folders[run_id]) for run_id in ids}
    next_run = None
    if winner is not None and loser is not None:
        curve = {c["run_id"]: c for c in curves}
        next_run = propose_next(winner, configs, [d["field"] for d in differences], curve[winner], loser, curve[loser])
    examples = example_changes(folders[order[0]], folders[order[1]], order[0], order[1])
    margin = None
    if winner is not None and loser is not None and None not in (values[winner], values[loser]):
        margin = abs(float(values[winner]) - float(values[loser]))  # type: ignore[arg-type]
    return {
        "run_ids": order,
        "winner": winner,
        "loser": loser,
        "metric": metric,
        "metric_label": label,
        "higher_is_better": direction > 0,
        "values": [values[run_id] for run_id in order],
        "margin": margin,
        "headline": _headline(order, values, winner, loser, label, direction, runs),
        "differences": differences,
        "curves": curves,
        "plot": str(plot),
        "per_class": _per_class(evaluations[order[0]], evaluations[order[1]]),
        "examples": examples,
        "next_run": next_run,
        "notes": [*comparison["notes"], *_chance_note(examples)],
    }


def _chance_note(examples: dict[str, Any]) -> list[str]:
    """On a small test split a gap of a few examples may be luck: say so, with the count."""
    if examples.get("kind") != "classification" or not examples.get("comparable"):
        return []
    size, net = int(examples["examples"]), int(examples["fixed_count"]) - int(examples["broken_count"])
    if size >= SMALL_TEST or abs(net) > CHANCE_EXAMPLES:
        return []
    return [
        f"The test split has only {size} examples and the runs differ on {abs(net)} of them on balance, so the gap "
        "may be chance; a larger test split or another seed would tell."
    ]


def _config(run_dir: Path, run: Any) -> dict[str, Any]:
    path = run_dir / "config.json"
    return read_json(path) if path.is_file() else dict(run["config"] or {})


def _evaluation(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "evaluation.json"
    return read_json(path) if path.is_file() else {}


def _plot(ws: Workspace, order: list[int], logs: dict[int, list[dict[str, Any]]]) -> Path:
    """Both runs' training loss (solid) and validation loss (dashed, in the run's colour) on one plot."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for run_id in order:
        log = logs[run_id]
        curves[f"run {run_id}"] = [(int(r["step"]), float(r["loss"])) for r in log if "loss" in r and "step" in r]
        validation = [(int(r["step"]), float(r["eval_loss"])) for r in log if "eval_loss" in r and "step" in r]
        if validation:
            curves[f"run {run_id} validation"] = validation
    path = ws.root / "comparisons" / f"explain-{order[0]}-{order[1]}.png"
    return plot_loss_curves(curves, path, f"Runs {order[0]} and {order[1]}: training (solid) and validation (dashed)")


def _headline(
    order: list[int],
    values: dict[int, Any],
    winner: int | None,
    loser: int | None,
    label: str,
    direction: int,
    runs: dict[int, Any],
) -> str:
    if winner is not None and loser is not None:
        won, lost = float(values[winner]), float(values[loser])
        gap = abs(won - lost)
        how = f"{gap:.3f} {'higher' if direction > 0 else 'lower'}"
        if direction > 0 and lost > 0:
            how += f", {gap / lost:.0%} better"
        return f"Run {winner} beat run {loser} on {label}: {won:.3f} against {lost:.3f} ({how})."
    missing = [run_id for run_id in order if values[run_id] is None]
    if missing:
        status = runs[missing[0]]["status"]
        return f"Run {missing[0]} has no {label} ({status}), so neither run can be called the winner."
    return f"Runs {order[0]} and {order[1]} tie on {label} ({float(values[order[0]]):.3f})."


def _per_class(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Each class's test F1 in both runs, the largest changes first (classifiers only; empty otherwise)."""
    old, new = before.get("per_class"), after.get("per_class")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    rows = []
    for label in list(dict.fromkeys([*old, *new])):
        f1 = [_f1(old.get(label)), _f1(new.get(label))]
        change = f1[1] - f1[0] if None not in f1 else None  # type: ignore[operator]
        support = (new.get(label) or old.get(label) or {}).get("support")
        rows.append({"label": label, "f1": f1, "change": change, "support": support})
    rows.sort(key=lambda r: -abs(r["change"]) if r["change"] is not None else 0.0)
    return rows


def _f1(entry: Any) -> float | None:
    value = entry.get("f1") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, int | float) else None
