"""The web UI's Runs room without a server: the table, the curves from metrics.jsonl, the evaluation and its plots,
the mistakes, and the buttons' plans that only a second click (bound to the plan's id) carries out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from agent.assistant import Assistant  # noqa: E402
from tools.pending import pending_action  # noqa: E402
from trainer.core.workspace import Workspace  # noqa: E402
from trainer.evaluate.plots import plot_confusion_matrix  # noqa: E402
from ui.render import MARKDOWN  # noqa: E402
from ui.rooms import Room  # noqa: E402
from ui.rooms import runs_view as view  # noqa: E402
from ui.rooms.plans import RoomPlans, room_key  # noqa: E402
from ui.rooms.runs import RunsView  # noqa: E402

LOG = [
    {"step": 5, "total_steps": 20, "epoch": 0.5, "loss": 0.9, "learning_rate": 1e-3, "eta_s": 30},
    {"step": 10, "total_steps": 20, "epoch": 1.0, "loss": 0.7, "learning_rate": 8e-4, "eta_s": 20},
    {"step": 10, "epoch": 1.0, "eval_loss": 0.75, "eval_accuracy": 0.6},
    {"step": 15, "total_steps": 20, "epoch": 1.5, "loss": float("nan"), "learning_rate": 5e-4},
]


def make_run(assistant: Assistant, status: str = "running", log: list[dict[str, Any]] = LOG) -> tuple[int, Path]:
    registry, workspace = assistant.registry, assistant.workspace
    run_id = registry.create_run(
        {"task": "text-classification", "model": "models/tiny", "data": "uploads/s/reviews.tsv", "epochs": 2}
    )
    registry.update_run(run_id, status=status)
    run_dir = workspace.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log) + '{"step": 1', "utf-8")
    return run_id, run_dir


@pytest.fixture
def assistant(offline_workspace: Path) -> Assistant:
    return Assistant(workspace=Workspace.from_env(), chat_model=None, presenter=MARKDOWN)


def test_the_curves_read_train_and_eval_loss_and_the_learning_rate_skipping_nan_and_a_half_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in LOG) + '{"step": 2', "utf-8")
    rows = view.metric_rows(tmp_path)
    loss = view.loss_curve(rows)
    assert loss.values.tolist() == [[5, 0.9, "train loss"], [10, 0.7, "train loss"], [10, 0.75, "eval loss"]]
    assert view.rate_curve(rows).values.tolist() == [[5, 1e-3], [10, 8e-4], [15, 5e-4]]
    assert view.curve_caption(loss) == "2 train loss points, 1 eval loss points; up to step 10."
    assert view.curve_caption(view.loss_curve([])) == "No loss logged yet."
    assert view.metric_rows(None) == [] and view.loss_curve([]).columns.tolist() == view.CURVE_COLUMNS


def test_the_table_lists_every_run_newest_first_with_its_key_metric() -> None:
    runs = [
        {"id": 1, "status": "succeeded", "task": "text-classification", "model": "/w/models/tiny", "data": "a.tsv",
         "result": "macro-F1 0.912"},
        {"id": 2, "status": "running", "task": "sft", "model": "HuggingFaceTB/SmolLM2", "data": "c.jsonl",
         "result": ""},
    ]  # fmt: skip
    assert view.runs_rows(runs) == [
        [2, "running", "sft", "SmolLM2", "c.jsonl", ""],
        [1, "succeeded", "text-classification", "tiny", "a.tsv", "macro-F1 0.912"],
    ]
    assert view.run_choices(runs) == [("run 2 · running · sft", 2), ("run 1 · succeeded · text-classification", 1)]


def test_mistakes_are_the_most_confident_wrong_answers_or_the_largest_errors(tmp_path: Path) -> None:
    rows = [
        {"input": "fine", "label": "pos", "predicted": "pos", "confidence": 0.9, "correct": True},
        {"input": "meh", "label": "neg", "predicted": "pos", "confidence": 0.55, "correct": False},
        {"input": "awful", "input_pair": "really", "label": "neg", "predicted": "pos", "confidence": 0.8,
         "correct": False},
    ]  # fmt: skip
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    headers, shown = view.mistakes(tmp_path)
    assert headers == view.MISTAKE_COLUMNS
    assert shown == [["awful ‖ really", "neg", "pos", 0.8], ["meh", "neg", "pos", 0.55]]
    regression = [{"input": "a", "target": 1.0, "predicted": 1.5, "error": 0.5},
                  {"input": "b", "target": 3.0, "predicted": 1.0, "error": -2.0}]  # fmt: skip
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in regression), "utf-8")
    headers, shown = view.mistakes(tmp_path)
    assert headers == view.ERROR_COLUMNS and [row[0] for row in shown] == ["b", "a"]
    assert view.mistakes(None) == (view.MISTAKE_COLUMNS, [])


def test_evaluation_plots_come_only_from_known_keys_inside_the_run_folders(
    assistant: Assistant, tmp_path: Path
) -> None:
    run_id, run_dir = make_run(assistant, "succeeded")
    png = plot_confusion_matrix([[3, 1], [0, 4]], ["neg", "pos"], run_dir / "confusion_matrix.png")
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(png.read_bytes())
    evaluation = {"confusion_matrix_png": str(png), "loss_png": str(outside), "plot": str(png), "accuracy": 0.875}
    served: list[str] = []

    def stage(path: str) -> str:
        served.append(path)
        return path

    images = view.evaluation_images(evaluation, assistant.workspace, stage)
    assert images == served == [str(png.resolve())]
    assert view.evaluation_images(None, assistant.workspace, lambda path: path) == []
    assert "_Run 3 is still running" in view.evaluation_markdown(None, "Run 3 is still running")


def test_showing_a_training_run_gives_its_curves_facts_config_and_a_ticking_timer(assistant: Assistant) -> None:
    run_id, _ = make_run(assistant, "running")
    room = RunsView(Room(assistant, None, lambda path: path, None))
    rows, picker = room.listed(run_id)
    assert rows[0][:3] == [run_id, "running", "text-classification"] and picker["value"] == run_id
    facts, loss, rate, caption, config, evaluation, images, table, formats, timer, memory = room.show(run_id)
    assert f"<b>Run {run_id}</b>: running" in facts
    assert loss["loss"].count() == 3 and len(rate) == 3 and caption.startswith("2 train loss points")
    assert loss["series"].tolist()[:2] == list(view.SERIES)  # every series named first, without a loss
    assert (
        config["epochs"] == 2
        and "still running" in evaluation
        and images == {"__type__": "update", "value": [], "visible": False}
    )
    assert timer.active is True and formats["choices"] == ["onnx", "hub"] and formats["value"] == "onnx"
    # The timer sends nothing while nothing changed, and the new points when the log grows.
    assert all(isinstance(part, dict) and part.get("__type__") == "update" for part in room.tick(run_id, memory))
    log = assistant.workspace.run_dir(run_id) / "metrics.jsonl"
    log.write_text(log.read_text("utf-8") + '\n{"step": 20, "loss": 0.5, "learning_rate": 1e-4}\n', "utf-8")
    ticked = room.tick(run_id, memory)
    assert ticked[1]["loss"].count() == 4 and ticked[3].startswith("3 train loss points")
    # A finished run stops the timer and shows the whole run once more.
    assistant.registry.update_run(run_id, status="cancelled")
    assert room.tick(run_id, ticked[-1])[9].active is False


def test_nothing_picked_shows_how_to_pick() -> None:
    assert view.NO_RUN in view.facts_html(None) and view.config_of(None) == {}


def test_a_button_prepares_a_plan_and_only_the_confirm_with_its_id_carries_it_out(assistant: Assistant) -> None:
    run_id, _ = make_run(assistant, "running")
    plans, key = RoomPlans(assistant), room_key()
    prepared = plans.prepare(key, "stop", run_id)
    assert prepared.action_id and f"Stop run {run_id}" in prepared.text and "Confirm" in prepared.text
    assert assistant.registry.get_run(run_id)["status"] == "running"  # the first click changed nothing
    # Another tab's key, a stale id and the chat's own plans confirm nothing.
    assert "Nothing was done" in plans.confirm(room_key(), prepared.action_id)
    assert "Nothing was done" in plans.confirm(key, "0123456789")
    assert "lost its place" in plans.confirm("a-chat-session", prepared.action_id)
    assert assistant.registry.get_run(run_id)["status"] == "running"
    done = plans.confirm(key, prepared.action_id)
    assert f"Run {run_id} is **cancelled**" in done and assistant.registry.get_run(run_id)["status"] == "cancelled"
    assert "Nothing was done" in plans.confirm(key, prepared.action_id)  # exactly once


def test_refused_actions_say_why_and_leave_nothing_waiting(assistant: Assistant) -> None:
    run_id, _ = make_run(assistant, "running")
    plans, key = RoomPlans(assistant), room_key()
    for action, words in (("export", "not finished"), ("resume", "still running"), ("deploy", "")):
        prepared = plans.prepare(key, action, run_id)
        assert prepared.action_id is None and prepared.text.startswith("⚠️") and words in prepared.text
    assert plans.prepare(key, "stop", None).text.startswith("⚠️ Pick a run")
    assert pending_action(plans.context(key)) is None
    prepared = plans.prepare(key, "stop", run_id)
    assert plans.cancel(key, prepared.action_id).startswith("Dropped the plan")
    assert pending_action(plans.context(key)) is None and assistant.registry.get_run(run_id)["status"] == "running"


def test_export_waits_for_the_second_click(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.rooms import plans as module

    run_id, _ = make_run(assistant, "succeeded")
    calls: list[tuple[int, str | None]] = []

    def fake_export(ctx: Any, run: int, format: str | None = None) -> dict[str, Any]:
        calls.append((run, format))
        return {"run_id": run, "format": format, "folder": "runs/run-1/export/onnx", "parity": None}

    monkeypatch.setattr(module, "export_run", fake_export)
    plans, key = RoomPlans(assistant), room_key()
    prepared = plans.prepare(key, "export", run_id, "onnx")
    assert prepared.action_id and "Export run" in prepared.text and "onnx" in prepared.text and calls == []
    assert f"Run {run_id} exported as onnx" in plans.confirm(key, prepared.action_id)
    assert calls == [(run_id, "onnx")]
