"""What the Runs room shows, as plain data (no Gradio, so it is unit-tested without a server): the table of runs,
a run's curves from its metrics.jsonl, its facts and config, and its evaluation (text, plots, mistakes).

Plots come only from the evaluation's known image keys (agent/images.py IMAGE_KEYS), checked to be PNG files in
the run folders, then handed to the room's image_ref (the app's staged folder); nothing from the data is a path.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from agent.images import result_images
from trainer.core.fileio import read_jsonl
from trainer.core.workspace import Workspace
from trainer.evaluate.predictions import read_predictions
from trainer.store.registry import ACTIVE
from ui.render import MARKDOWN
from ui.render.answers import shorten
from ui.web_view import ImageRef, progress_html

RUN_COLUMNS = ["run", "status", "task", "model", "data", "result"]
CURVE_COLUMNS = ["step", "loss", "series"]
RATE_COLUMNS = ["step", "learning_rate"]
TRAIN_LOSS, EVAL_LOSS = "train loss", "eval loss"
SERIES = (TRAIN_LOSS, EVAL_LOSS)
MISTAKE_COLUMNS = ["text", "true", "predicted", "confidence"]
ERROR_COLUMNS = ["text", "true", "predicted", "error"]
# How many test examples the mistakes table lists (the worst first).
SHOWN_MISTAKES = 20
NO_RUN = "Pick a run in the table or the list to see its curves, config and evaluation."


def runs_rows(runs: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """One row per run, newest first: id, status, task, model, data file and its key metric (list_runs' rows)."""
    rows = []
    for run in sorted(runs, key=lambda run: int(run["id"]), reverse=True):
        model = Path(str(run.get("model") or "")).name
        rows.append([run["id"], run["status"], run.get("task") or "", model, run.get("data") or "", run["result"]])
    return rows


def run_choices(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """The run picker's entries, newest first: "run 3 · running · text-classification"."""
    return [(f"run {row[0]} · {row[1]} · {row[2]}", int(row[0])) for row in runs_rows(runs)]


def metric_rows(run_dir: Path | None) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl ([] before its first log line, or for a run without a folder)."""
    return read_jsonl(Path(run_dir) / "metrics.jsonl") if run_dir else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN is no point
        return None
    return float(value)


def loss_curve(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The training loss and the validation loss by step, one series each (the LinePlot's long format)."""
    points = []
    for row in rows:
        step = _number(row.get("step"))
        for key, series in (("loss", TRAIN_LOSS), ("eval_loss", EVAL_LOSS)):
            value = _number(row.get(key))
            if step is not None and value is not None:
                points.append({"step": int(step), "loss": value, "series": series})
    return _frame(points, {"step": "int64", "loss": "float64", "series": "str"})


def plotted(curve: pd.DataFrame) -> pd.DataFrame:
    """The loss points as the plot gets them: with one empty point (no loss) of each series first. The browser
    fixes the plot's colours from the series its first value names and keeps them while points stream in, so
    every series is named from the start; a point without a loss is not drawn."""
    empty = pd.DataFrame([{"step": 0, "loss": math.nan, "series": name} for name in SERIES], columns=CURVE_COLUMNS)
    return pd.concat([empty.astype(curve.dtypes.to_dict()), curve], ignore_index=True)


def rate_curve(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The learning rate by step (logged with each training loss)."""
    points = [
        {"step": int(step), "learning_rate": rate}
        for row in rows
        if "loss" in row
        and (step := _number(row.get("step"))) is not None
        and (rate := _number(row.get("learning_rate"))) is not None
    ]
    return _frame(points, {"step": "int64", "learning_rate": "float64"})


def _frame(points: list[dict[str, Any]], types: dict[str, str]) -> pd.DataFrame:
    """The points with numeric columns even when there are none yet: the browser's plot fixes its axes' kinds
    from the first value it gets, and an empty frame of objects would make them categories for good."""
    return pd.DataFrame(points, columns=list(types)).astype(types)


def curve_caption(curve: pd.DataFrame) -> str:
    """What the loss plot holds, in words: the count of points of each series and the last step."""
    if curve.empty:
        return "No loss logged yet."
    counts = curve.groupby("series").size()
    parts = [f"{int(counts[name])} {name} points" for name in (TRAIN_LOSS, EVAL_LOSS) if name in counts]
    return f"{', '.join(parts)}; up to step {int(curve['step'].max())}."


def is_active(status: Mapping[str, Any] | None) -> bool:
    """Whether the run is still queued or training (its curves may still grow)."""
    return bool(status) and str(status.get("status")) in ACTIVE  # type: ignore[union-attr]


def facts_html(status: Mapping[str, Any] | None) -> str:
    """Status, phase, step of total, loss, elapsed time, ETA and a bar (the chat's progress panel), and the error."""
    if not status:
        return f"<div class='tc-progress'><em>{html.escape(NO_RUN)}</em></div>"
    return progress_html({"run_id": status.get("id"), **status})


def config_of(status: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's settings as it was started with them."""
    config = (status or {}).get("config")
    return dict(config) if isinstance(config, Mapping) else {}


def evaluation_markdown(evaluation: Mapping[str, Any] | None, why_none: str = "") -> str:
    """The evaluation as the chat shows it: test metrics beside a baseline, or a language model's base-vs-tuned
    table and answers; else why there is none yet."""
    if evaluation is None:
        return f"_{why_none or 'No evaluation yet.'}_"
    return MARKDOWN.evaluation(dict(evaluation))


def evaluation_images(evaluation: Mapping[str, Any] | None, workspace: Workspace, image_ref: ImageRef) -> list[str]:
    """The evaluation's plots (confusion matrix, predicted-vs-true, loss, mistakes) as served paths: only the known
    keys, only PNGs inside the run folders."""
    if evaluation is None:
        return []
    paths = result_images("evaluate_run", evaluation, workspace)
    return [served for served in (image_ref(path) for path in paths if path.endswith(".png")) if served]


def mistakes(run_dir: Path | None) -> tuple[list[str], list[list[Any]]]:
    """The test examples the run got most wrong, from its predictions.jsonl: a classifier's wrong answers (the most
    confident first), a regressor's largest errors. Headers and rows; no rows for a run without predictions."""
    predictions = read_predictions(run_dir) if run_dir else []

    def text(row: Mapping[str, Any]) -> str:
        pair = f" ‖ {row['input_pair']}" if row.get("input_pair") else ""
        return shorten(f"{row.get('input', '')}{pair}")

    if any("error" in row for row in predictions):
        worst = sorted(predictions, key=lambda row: -abs(_number(row.get("error")) or 0.0))[:SHOWN_MISTAKES]
        return ERROR_COLUMNS, [
            [text(row), row.get("target"), round(float(row.get("predicted") or 0.0), 4), round(row["error"], 4)]
            for row in worst
        ]
    wrong = [row for row in predictions if row.get("correct") is False]
    wrong.sort(key=lambda row: -(_number(row.get("confidence")) or 0.0))
    return MISTAKE_COLUMNS, [
        [text(row), str(row.get("label")), str(row.get("predicted")), row.get("confidence")]
        for row in wrong[:SHOWN_MISTAKES]
    ]
