"""The Runs room: every run with its status, task, model, data and key metric; the picked run's live loss and
learning-rate curves (from its metrics.jsonl, refreshed by a timer while it trains), its progress and ETA, its
config, its evaluation (plots, mistakes, a language model's base-vs-tuned table) and its actions.

Stop, resume, export and deploy are plans: the first click prepares one through the chat's own tools and the
Confirm button carries out exactly that plan (ui/rooms/plans.py). What is shown is built by ui/rooms/runs_view.py;
this module holds the handlers as plain functions (RunsView, which tests call) and wires them into the tab.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from tools.run_tools import list_runs
from trainer.backends.runs import run_status
from trainer.core.errors import UserError
from trainer.evaluate.metrics import load_evaluation
from trainer.tasks.registry import task_of
from ui.rooms import Room
from ui.rooms.plans import ACTIONS, EXPORT, Prepared, RoomPlans, room_key
from ui.rooms.runs_view import (
    EVAL_LOSS,
    NO_RUN,
    RUN_COLUMNS,
    TRAIN_LOSS,
    config_of,
    curve_caption,
    evaluation_images,
    evaluation_markdown,
    facts_html,
    is_active,
    loss_curve,
    metric_rows,
    mistakes,
    plotted,
    rate_curve,
    run_choices,
    runs_rows,
)

# How often the picked run's curves are read again while it trains.
CURVE_POLL_SECONDS = 2.0
PICKER_LABEL = "Selected run"
CURVE_CAPTION_ID = "tc-curve-caption"
# Fixed, so a series keeps its colour when the other one appears.
SERIES_COLOURS = {TRAIN_LOSS: "#3b82f6", EVAL_LOSS: "#f97316"}


class RunsView:
    """The Runs room's handlers over one assistant, returning plain values and Gradio updates."""

    def __init__(self, room: Room):
        self.assistant = room.assistant
        self.image_ref = room.image_ref
        self.plans = RoomPlans(room.assistant)

    def listed(self, picked: Any = None) -> tuple[list[list[Any]], Any]:
        """The table of runs and the picker's choices (the picked run kept)."""
        runs = list_runs(self.assistant.context(""))["runs"]
        return runs_rows(runs), gr.update(choices=run_choices(runs), value=picked if picked not in ("", None) else None)

    def status(self, run_id: Any) -> dict[str, Any] | None:
        if run_id in (None, ""):
            return None
        try:
            return dict(run_status(self.assistant.workspace, self.assistant.registry, int(run_id)))
        except (UserError, ValueError):
            return None

    def curves(self, status: dict[str, Any] | None) -> tuple[Any, Any, str, int]:
        """The loss plot's points (every series named), the learning-rate plot's, the words under them and the
        count of loss points."""
        rows = metric_rows(status.get("run_dir") if status else None)
        loss = loss_curve(rows)
        return plotted(loss), rate_curve(rows), curve_caption(loss) if status else "", len(loss)

    def show(self, run_id: Any) -> tuple[Any, ...]:
        """Everything about the picked run: facts, curves, caption, config, evaluation text, plots, mistakes, the
        export formats, the timer (ticking only while it trains) and the tick's memory."""
        status = self.status(run_id)
        loss, rate, caption, points = self.curves(status)
        evaluation, why = self.evaluation(status)
        headers, rows = mistakes(status.get("run_dir") if status else None)
        formats = list(task_of(status["config"]).exports) if status and status.get("config") else []
        return (
            facts_html(status),
            loss,
            rate,
            caption,
            config_of(status),
            evaluation_markdown(evaluation, why) if status else f"_{NO_RUN}_",
            self._plots(evaluation),
            gr.update(value={"headers": headers, "data": rows}, visible=bool(rows)),
            gr.update(choices=formats, value=formats[0] if formats else None),
            gr.Timer(active=is_active(status)),
            self._memory(status, points),
        )

    def evaluation(self, status: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        """The run's evaluation record, or None and why there is none yet."""
        if not status:
            return None, NO_RUN
        try:
            found = load_evaluation(self.assistant.workspace, self.assistant.registry, int(status["id"]))
        except UserError as error:
            return None, str(error)
        return {"run_id": found.run_id, **found.extra}, ""

    def tick(self, run_id: Any, memory: Any) -> tuple[Any, ...]:
        """The timer: while the run trains, its facts and curves when they changed; when it has finished, the whole
        run once more (its evaluation) and the timer stops."""
        status = self.status(run_id)
        if not is_active(status):
            return self.show(run_id)
        loss, rate, caption, points = self.curves(status)
        memory_now = self._memory(status, points)
        if memory_now == memory:
            return tuple(gr.skip() for _ in range(11))
        return (facts_html(status), loss, rate, caption, *[gr.skip()] * 6, memory_now)

    @staticmethod
    def _memory(status: dict[str, Any] | None, points: int) -> list[Any]:
        """What the tick compares to skip an unchanged refresh: status, step and the number of points."""
        if not status:
            return []
        return [status.get("status"), status.get("step"), status.get("eta_s"), points]

    def pick_row(self, selected: gr.SelectData) -> Any:
        """A click on a row of the table picks its run."""
        row = selected.row_value or []
        return row[0] if row else gr.skip()

    def prepare(self, action: str) -> Any:
        def first_click(key: str, run_id: Any, export_format: str | None) -> tuple[str, Any, Any, str | None]:
            prepared: Prepared = self.plans.prepare(key, action, None if run_id in (None, "") else int(run_id),
                                                    export_format)  # fmt: skip
            waits = prepared.action_id is not None
            return prepared.text, gr.update(visible=waits), gr.update(visible=waits), prepared.action_id

        return first_click

    def _plots(self, evaluation: dict[str, Any] | None) -> Any:
        images = evaluation_images(evaluation, self.assistant.workspace, self.image_ref)
        return gr.update(value=images, visible=bool(images))

    def evaluate(self, run_id: Any) -> tuple[str, Any]:
        """The Evaluate button: the picked run's evaluation read again (nothing is started)."""
        evaluation, why = self.evaluation(self.status(run_id))
        return evaluation_markdown(evaluation, why), self._plots(evaluation)

    def confirm(self, key: str, action_id: str | None) -> tuple[str, Any, Any, None]:
        return self.plans.confirm(key, action_id), gr.update(visible=False), gr.update(visible=False), None

    def cancel(self, key: str, action_id: str | None) -> tuple[str, Any, Any, None]:
        return self.plans.cancel(key, action_id), gr.update(visible=False), gr.update(visible=False), None


def add_runs_room(room: Room) -> RunsView:
    """The Runs room's components and events, in its tab."""
    view = RunsView(room)
    key = gr.State(room_key)  # this browser tab's key for the room's plans
    waiting = gr.State(None)  # the id of the plan the Confirm button carries out
    memory = gr.State([])
    with gr.Row():
        picker = gr.Dropdown(label=PICKER_LABEL, choices=[], value=None, scale=4)
        refresh = gr.Button("Refresh", size="sm", scale=1)
    table = gr.Dataframe(headers=RUN_COLUMNS, value=[], interactive=False, label="Runs (click one)", wrap=True)
    facts = gr.HTML(facts_html(None), label="Progress", elem_id="tc-run-facts")
    with gr.Row(equal_height=False):
        loss_plot = gr.LinePlot(
            plotted(loss_curve([])),
            x="step",
            y="loss",
            color="series",
            color_map=SERIES_COLOURS,
            color_title="",
            label="Loss",
            height=340,
            elem_id="tc-loss-plot",
        )
        rate_plot = gr.LinePlot(
            rate_curve([]),
            x="step",
            y="learning_rate",
            y_title="learning rate",
            y_axis_format=".1e",
            label="Learning rate",
            height=340,
        )
    caption = gr.Markdown("", elem_id=CURVE_CAPTION_ID)
    timer = gr.Timer(CURVE_POLL_SECONDS, active=False)
    with gr.Row():
        buttons = {action: gr.Button(action.capitalize(), size="sm") for action in ACTIONS[:2]}
        evaluate = gr.Button("Evaluate", size="sm")
        export_format = gr.Dropdown(label="Export format", choices=[], value=None, scale=1, min_width=120)
        buttons |= {action: gr.Button(action.capitalize(), size="sm") for action in ACTIONS[2:]}
    plan = gr.Markdown("")
    with gr.Row():
        confirm = gr.Button("Confirm", variant="primary", visible=False)
        cancel = gr.Button("Cancel", visible=False)
    with gr.Accordion("Config", open=False):
        config = gr.JSON(label="Config")
    evaluation = gr.Markdown("")
    gallery = gr.Gallery(label="Evaluation plots", columns=2, height=360, allow_preview=True, visible=False)
    mistakes_table = gr.Dataframe(label="Mistakes on the test split (the worst first)", visible=False, wrap=True)

    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    shown = [facts, loss_plot, rate_plot, caption, config, evaluation, gallery, mistakes_table, export_format]
    shown += [timer, memory]
    room.tab.select(view.listed, [picker], [table, picker], **private)
    refresh.click(view.listed, [picker], [table, picker], **private)
    table.select(view.pick_row, None, [picker], **private)
    picker.change(view.show, [picker], shown, api_name="run_details", show_progress="hidden")
    timer.tick(view.tick, [picker, memory], shown, concurrency_limit=None, **private)
    plan_outputs = [plan, confirm, cancel, waiting]
    for action, button in buttons.items():
        inputs = [key, picker, export_format] if action == EXPORT else [key, picker, gr.State(None)]
        button.click(view.prepare(action), inputs, plan_outputs, **private)
    evaluate.click(view.evaluate, [picker], [evaluation, gallery], **private)
    confirm.click(view.confirm, [key, waiting], plan_outputs, **private).then(view.show, [picker], shown, **private)
    cancel.click(view.cancel, [key, waiting], plan_outputs, **private)
    return view
