"""The Compare room: pick runs, see their loss curves on one plot, their settings side by side with the differences
marked, their metrics, and with exactly two picked why one beat the other. What it shows is built by
compare_view.py from trainer/evaluate/compare.py; the explanation is the explain_comparison tool's, asked not to plan a
next run (a plan waits for a yes in the chat, not here)."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import pandas as pd

from agent.assistant import Assistant
from tools.explain_tools import explain_comparison
from trainer.core.errors import UserError
from trainer.evaluate.compare import compare_runs
from ui.render import MARKDOWN
from ui.render.safe import prose
from ui.rooms import Room
from ui.rooms.compare_view import (
    PICK_TWO,
    config_table,
    curves_frame,
    metrics_table,
    picked_ids,
    run_choices,
    summary_markdown,
)
from ui.rooms.wiring import on_show

# No curves is no value, not an empty table: Gradio 6's plot given an empty table draws no lines when data follows.
EMPTY_CURVES = None
log = logging.getLogger(__name__)


def compare_view(assistant: Assistant, values: list[Any] | None, session_id: str | None) -> tuple[Any, ...]:
    """(summary, curves, settings, metrics, explanation) for the picked runs."""
    ids = picked_ids(values)
    empty = pd.DataFrame([])
    if len(ids) < 2:
        return PICK_TWO, EMPTY_CURVES, empty, empty, ""
    try:
        comparison = compare_runs(assistant.workspace, assistant.registry, ids)
        runs = [assistant.registry.get_run(run_id) for run_id in comparison["run_ids"]]
    except UserError as error:
        return prose(str(error)), EMPTY_CURVES, empty, empty, ""
    config_headers, config_rows = config_table(comparison)
    metric_headers, metric_rows = metrics_table(comparison)
    explanation = ""
    if len(ids) == 2:
        try:
            explained = explain_comparison(assistant.context(session_id or ""), ids, propose=False)
            explanation = "### Why one beat the other\n\n" + MARKDOWN.explanation(explained)
        except UserError as error:
            explanation = prose(str(error))
        except Exception as error:  # the comparison above still stands; the details go to the console
            log.exception("explaining runs %s failed", ids)
            explanation = prose(f"The explanation could not be made: {type(error).__name__}: {error}")
    return (
        summary_markdown(comparison),
        curves_frame(assistant.workspace, runs),
        pd.DataFrame(config_rows, columns=config_headers),
        pd.DataFrame(metric_rows, columns=metric_headers),
        explanation,
    )


def add_compare_room(room: Room) -> None:
    """The Compare room's components and events, inside ui/web.py's `with gr.Tab("Compare") as tab:`."""
    assistant = room.assistant

    def choices(picked: list[Any] | None) -> Any:
        runs = assistant.registry.list_runs()
        known = {int(run["id"]) for run in runs}
        return gr.update(choices=run_choices(runs), value=[i for i in picked_ids(picked) if i in known])

    gr.Markdown("Pick two or more runs: their loss curves on one plot, their settings side by side, their metrics.")
    with gr.Row():
        picker = gr.Dropdown(
            choices=run_choices(assistant.registry.list_runs()),
            value=[],
            multiselect=True,
            label="Runs to compare",
            scale=5,
        )
        refresh = gr.Button("Refresh runs", size="sm", scale=1)
    summary = gr.Markdown(PICK_TWO)
    curves = gr.LinePlot(None, x="step", y="loss", color="run", label="Training loss", x_title="step")
    configs = gr.Dataframe(value=None, interactive=False, wrap=True, label="Settings (≠ marks a difference)")
    metrics = gr.Dataframe(value=None, interactive=False, wrap=True, label="Metrics (test split)")
    explanation = gr.Markdown()

    def show(values: list[Any] | None, session_id: str | None) -> tuple[Any, ...]:
        return compare_view(assistant, values, session_id)

    on_show(room, choices, [picker], [picker], also=[refresh.click])
    picker.change(
        show, [picker, room.session], [summary, curves, configs, metrics, explanation], api_visibility="private"
    )
