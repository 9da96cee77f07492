"""What the Compare room shows, as plain data (no Gradio): the runs to pick from, their loss curves as one long
table (a row per run and step, for a plot coloured by run), the settings side by side with the differences marked,
and the metrics with the best run named. The comparison itself is trainer/evaluate/compare.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from trainer.core.workspace import Workspace
from trainer.evaluate.compare import loss_curve
from ui.render.format import fmt_number
from ui.render.safe import prose

# Marks a setting whose value differs between the picked runs (the Dataframe shows plain text, no markdown).
DIFFERS = "≠"
CURVE_COLUMNS = ["run", "step", "loss"]
# Points drawn per run: a long run logs thousands of steps, more than a plot this wide can show or a browser should
# receive on every pick.
CURVE_POINTS = 1000


def run_label(run: Mapping[str, Any]) -> str:
    """ "run 3 · succeeded · tiny · reviews.tsv": the id first, so a typed number finds it."""
    model = str(run["model"] or "")
    model = Path(model).name if model.startswith("/") else model
    return f"run {run['id']} · {run['status']} · {model} · {Path(str(run['data'] or '')).name}"


def run_choices(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """The runs to pick from, newest first, as (label, id)."""
    return [(run_label(run), int(run["id"])) for run in reversed(runs)]


def picked_ids(values: Sequence[Any] | None) -> list[int]:
    """The picked run ids in the order picked, each once (a browser may send anything: only whole numbers count)."""
    ids: list[int] = []
    for value in values or []:
        try:
            run_id = int(value)
        except (TypeError, ValueError):
            continue
        if run_id not in ids:
            ids.append(run_id)
    return ids


def curves_frame(ws: Workspace, runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Every run's training loss by step (from its metrics.jsonl), one row per run and step."""
    rows = [
        {"run": f"run {run['id']}", "step": step, "loss": loss}
        for run in runs
        for step, loss in thinned(loss_curve(ws.run_dir_of(run)))
    ]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS).astype({"run": str, "step": int, "loss": float})


def thinned(curve: list[tuple[int, float]], points: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """At most about `points` of the curve, evenly spaced, always with its last point (where the run ended)."""
    if len(curve) <= points:
        return curve
    every = -(-len(curve) // points)
    kept = curve[::every]
    return kept if kept[-1] == curve[-1] else [*kept, curve[-1]]


def config_table(comparison: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): one row per setting any run uses, DIFFERS in the first column where the runs disagree; a
    setting a run's backend does not use shows as a dash."""
    headers = ["", "setting", *(f"run {run_id}" for run_id in comparison["run_ids"])]
    rows = [
        [DIFFERS if row["differs"] else "", row["field"], *(fmt_number(value) for value in row["values"])]
        for row in comparison["config_rows"]
        if any(value not in (None, "") for value in row["values"])
    ]
    # Differences first, so they are seen without scrolling; the settings keep their order within each group.
    rows.sort(key=lambda row: row[0] != DIFFERS)
    return headers, rows


def metrics_table(comparison: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): each metric's value per run and the run that is best by it."""
    headers = ["metric", *(f"run {run_id}" for run_id in comparison["run_ids"]), "best"]
    rows = [
        [
            row["metric"],
            *(fmt_number(value) for value in row["values"]),
            f"run {row['best_run']}" if row["best_run"] is not None else "",
        ]
        for row in comparison["metric_rows"]
    ]
    return headers, rows


def summary_markdown(comparison: Mapping[str, Any]) -> str:
    """The best run by the ranking metric and the notes on unfinished runs."""
    best = comparison.get("best_run")
    parts = [
        f"**Best: run {best}** by {comparison['best_metric']}."
        if best is not None
        else f"No run has a {comparison['best_metric']} yet."
    ]
    parts += [prose(note) for note in comparison.get("notes") or []]
    return "\n\n".join(parts)


PICK_TWO = "Pick two or more runs to compare them; with exactly two, the room also explains why one beat the other."
