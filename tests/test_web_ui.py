"""The web chat: the pure conversions it is built from, and the real app over HTTP via gradio_client."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from web_app import App  # noqa: E402

from agent.sessions import SessionStore  # noqa: E402
from agent.types import Reply, ToolStep  # noqa: E402
from trainer.backends import runs  # noqa: E402
from trainer.core.errors import UserError  # noqa: E402
from ui import web, web_view  # noqa: E402
from ui.render import MARKDOWN

# ---- pure conversions ------------------------------------------------------------------------------


def test_reply_becomes_collapsible_tool_steps_then_the_answer_with_images(tmp_path: Path) -> None:
    png = tmp_path / "confusion_matrix.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    reply = Reply(
        text="**reviews.tsv**: 30 rows",
        images=[str(png), str(tmp_path / "deleted.png")],
        steps=[
            ToolStep("inspect_data", {"file": "reviews.tsv"}, True, "30 rows, columns label and review", 0.123456),
            ToolStep("run_status", {"run_id": 9}, False, "There is no run 9.", 0.01),
        ],
    )
    messages = web_view.reply_to_messages(reply)

    assert len(messages) == 3
    inspect_step, failed_step, answer = messages
    assert inspect_step["role"] == "assistant"
    assert inspect_step["metadata"] == {"title": "🔧 inspect_data", "duration": 0.12, "status": "done"}
    assert '{"file": "reviews.tsv"}' in inspect_step["content"]
    assert "30 rows, columns label and review" in inspect_step["content"]
    assert failed_step["metadata"]["title"] == "🔧 run_status"
    assert failed_step["metadata"]["log"] == "failed"
    assert "**Failed:** There is no run 9." in failed_step["content"]
    # The missing image is left out instead of breaking the whole message.
    assert answer == {"role": "assistant", "content": ["**reviews.tsv**: 30 rows", {"path": str(png)}]}


def test_reply_without_images_is_plain_markdown() -> None:
    assert web_view.reply_to_messages(Reply(text="Hello")) == [{"role": "assistant", "content": "Hello"}]


def test_stored_history_becomes_messages_with_images(tmp_path: Path) -> None:
    sessions = SessionStore(tmp_path / "db.sqlite")
    png = tmp_path / "loss.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    sessions.add_message("s1", "user", "results")
    sessions.add_message("s1", "assistant", "Accuracy **0.93**", [str(png)])
    sessions.add_message("s1", "assistant", "No images here")

    messages = web_view.history_to_messages(sessions.messages("s1"))

    assert messages == [
        {"role": "user", "content": "results"},
        {"role": "assistant", "content": ["Accuracy **0.93**", {"path": str(png)}]},
        {"role": "assistant", "content": "No images here"},
    ]
    staged = web_view.history_to_messages(sessions.messages("s1"), image_ref=lambda path: "/served/" + Path(path).name)
    assert staged[1]["content"][1] == {"path": "/served/loss.png"}


def test_user_message_shows_dropped_files() -> None:
    assert web_view.user_message("inspect", ["/tmp/a.tsv"]) == {
        "role": "user",
        "content": ["inspect", {"path": "/tmp/a.tsv"}],
    }
    assert web_view.user_message("", ["/tmp/a.tsv"]) == {"role": "user", "content": [{"path": "/tmp/a.tsv"}]}
    assert web_view.user_message("hi") == {"role": "user", "content": "hi"}


def test_runs_table_newest_first_with_metrics() -> None:
    runs = [
        {"id": 1, "status": "succeeded", "model": "m", "data": "a.tsv", "accuracy": 0.875, "result": "macro-F1 0.800"},
        {"id": 2, "status": "running", "model": "m", "data": "/home/u/.tunechat/uploads/b.tsv", "accuracy": None},
    ]
    assert web_view.runs_table(runs) == [
        [2, "running", "m", "b.tsv", "", ""],
        [1, "succeeded", "m", "a.tsv", "0.875", "macro-F1 0.800"],
    ]


def test_panel_follows_this_chats_active_run_first() -> None:
    runs = [
        {"id": 1, "status": "running", "session_id": "other"},
        {"id": 2, "status": "succeeded", "session_id": "mine"},
        {"id": 3, "status": "failed", "session_id": "other"},
    ]
    assert web_view.pick_panel_run(runs, "mine") == 1  # nothing active here: the other chat's active run
    assert web_view.pick_panel_run([*runs, {"id": 4, "status": "queued", "session_id": "mine"}], "mine") == 4
    assert web_view.pick_panel_run(runs[1:], "mine") == 2  # nothing active anywhere: how this chat's run ended
    assert web_view.pick_panel_run(runs[1:], None) == 3  # a new tab: the newest run of all
    assert web_view.pick_panel_run([], "mine") is None


def test_progress_html_shows_step_loss_eta_and_bar() -> None:
    status = {"run_id": 3, "status": "running", "phase": "training", "step": 15, "total_steps": 60}
    status |= {"loss": 0.41234, "eta_s": 95, "elapsed_s": 30}
    panel = web_view.progress_html(status)
    assert "Run 3" in panel and "running" in panel and "training" in panel
    assert "step 15/60" in panel and "loss 0.4123" in panel
    assert "ETA 1 min 35 s" in panel and "elapsed 30 s" in panel
    assert "width:25.0%" in panel
    done = web_view.progress_html({"run_id": 3, "status": "succeeded", "step": None, "total_steps": None})
    assert "width:100.0%" in done and "ETA" not in done
    failed = web_view.progress_html({"run_id": 4, "status": "failed", "error": "Out of <memory>."})
    assert "Out of &lt;memory&gt;." in failed
    assert "No run yet" in web_view.progress_html(None)


def test_session_choices_skip_untitled_sessions() -> None:
    sessions = [
        {"id": "a", "title": "inspect my data", "updated_at": 1_700_000_000.0, "created_at": 0.0},
        {"id": "b", "title": "", "updated_at": 1_700_000_100.0, "created_at": 0.0},
    ]
    choices = web_view.session_choices(sessions)
    assert [value for _, value in choices] == ["a"]
    assert choices[0][0].startswith("inspect my data · ")


def test_header_tells_how_to_configure_an_llm_in_guided_mode() -> None:
    guided = web_view.header_markdown("guided", "guided mode (no LLM configured)")
    assert "guided mode (no LLM configured)" in guided
    for name in ("OPENAI_API_KEY", "--llm-base-url", "--llm-path", "tunechat settings"):
        assert name in guided
    assert "OPENAI_API_KEY" not in web_view.header_markdown("llm", "gpt-x at http://127.0.0.1:8000/v1")


# ---- the real app over HTTP ------------------------------------------------------------------------


def write_tsv(path: Path, rows: int) -> Path:
    lines = ["label\treview"] + [
        f"{'pos' if i % 2 else 'neg'}\treview number {i} was {'great' if i % 2 else 'bad'}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chat_text(chatbot: list[dict[str, Any]]) -> str:
    """All text in a Chatbot value as the client receives it (content is a list of typed parts)."""
    parts = []
    for message in chatbot:
        content = message["content"]
        for part in content if isinstance(content, list) else [content]:
            parts.append(part.get("text", "") if isinstance(part, dict) else str(part))
    return "\n".join(parts)


def test_dropped_file_is_inspected_over_http(app: App, tmp_path: Path) -> None:
    from gradio_client import handle_file

    data = write_tsv(tmp_path / "my reviews.tsv", 30)
    chatbot, box, dropdown = app.client().predict(
        {"text": "inspect my data", "files": [handle_file(str(data))]}, api_name="/chat"
    )

    text = chat_text(chatbot)
    assert "30 rows" in text
    assert "`label`" in text and "`review`" in text
    steps = [message["metadata"]["title"] for message in chatbot if message.get("metadata")]
    assert "🔧 inspect_data" in steps
    assert chatbot[0]["role"] == "user" and chatbot[-1]["role"] == "assistant"
    # The Assistant copied the upload into this tab's own uploads folder and stored the chat under its session.
    uploads = app.assistant.workspace.uploads_for(dropdown["value"])
    assert [p.name for p in uploads.iterdir()] == ["my_reviews.tsv"]
    sessions = app.assistant.sessions.list_sessions()
    assert [s["id"] for s in sessions] == [dropdown["value"]]
    assert sessions[0]["title"] == "inspect my data"
    # The "Earlier chats" dropdown now lists this chat, selected.
    assert [value for _, value in dropdown["choices"]] == [dropdown["value"]]
    assert dropdown["choices"][0][0].startswith("inspect my data")
    assert box["value"] == {"text": "", "files": []} and box["interactive"] is True  # cleared and unlocked


def test_runs_endpoint_shows_registry_runs_and_progress(app: App) -> None:
    registry = app.assistant.registry
    config = {"task": "text-classification", "model": "all-MiniLM-L6-v2", "data": "reviews.tsv"}
    finished = registry.create_run(config)
    registry.update_run(finished, status="succeeded", metrics={"accuracy": 0.875, "macro_f1": 0.8})
    broken = registry.create_run({**config, "data": "other.tsv"})
    registry.update_run(broken, status="failed", error="The label column has one class; add another.")

    table, progress = app.client().predict(api_name="/runs")

    rows = table["data"]
    assert [row[:4] for row in rows] == [
        [broken, "failed", "all-MiniLM-L6-v2", "other.tsv"],
        [finished, "succeeded", "all-MiniLM-L6-v2", "reviews.tsv"],
    ]
    assert rows[1][4:] == ["0.875", "macro-F1 0.800"]
    assert table["headers"] == web_view.RUN_HEADERS
    # This client's chat has no run of its own and none is active: the panel shows the newest run's end.
    assert f"<b>Run {broken}</b>: failed" in progress and "has one class" in progress


def test_sessions_are_isolated_and_survive_a_restart(app: App, tmp_path: Path) -> None:
    from gradio_client import handle_file

    alice, bob = app.client(), app.client()
    data = write_tsv(tmp_path / "alice.tsv", 12)
    alice_chat, _, alice_dropdown = alice.predict(
        {"text": "inspect my data", "files": [handle_file(str(data))]}, api_name="/chat"
    )
    bob_chat, _, bob_dropdown = bob.predict({"text": "inspect my data", "files": []}, api_name="/chat")
    alice_session, bob_session = alice_dropdown["value"], bob_dropdown["value"]

    assert alice_session and bob_session and alice_session != bob_session
    assert "12 rows" in chat_text(alice_chat)
    # Bob's tab has no file of its own: Alice's upload is not his active file.
    assert "12 rows" not in chat_text(bob_chat)
    assert "upload" in chat_text(bob_chat).lower()
    # A second message in Alice's tab continues her session and her on-screen history.
    alice_again, _, alice_dropdown = alice.predict({"text": "help", "files": []}, api_name="/chat")
    assert alice_dropdown["value"] == alice_session
    assert chat_text(alice_again).startswith(chat_text(alice_chat))
    assert len(app.assistant.history(alice_session)) == 4 and len(app.assistant.history(bob_session)) == 2

    # Restart the app on the same workspace: the earlier chat reopens with its history.
    app.close()
    restarted = App(app.assistant.workspace)
    try:
        reopened = restarted.client().predict(alice_session, api_name="/open_session")
        assert "12 rows" in chat_text(reopened)
        assert [m["role"] for m in reopened] == ["user", "assistant", "user", "assistant"]
        # An id that is not a stored chat changes nothing (no chat bound to a made-up session).
        refused = restarted.client().predict("no-such-session", api_name="/open_session")
        assert refused == {"__type__": "update"}
    finally:
        restarted.close()


def test_port_in_use_is_one_clear_sentence(offline_workspace: Path) -> None:
    from agent.assistant import Assistant

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError) as caught:
            web.launch(port=port, assistant=Assistant(chat_model=None, presenter=MARKDOWN), prevent_thread_lock=True)
    message = str(caught.value)
    assert f"Port {port}" in message and "--port" in message


def test_active_run_progress_is_shown(app: App) -> None:
    registry, workspace = app.assistant.registry, app.assistant.workspace
    run_id = registry.create_run({"task": "text-classification", "model": "tiny", "data": "reviews.tsv"})
    registry.update_run(run_id, status="running")
    run_dir = workspace.run_dir(run_id)
    run_dir.mkdir(parents=True)
    progress = {"phase": "training", "step": 15, "total_steps": 60, "loss": 0.5, "eta_s": 42, "elapsed_s": 14}
    (run_dir / "progress.json").write_text(json.dumps(progress), encoding="utf-8")

    table, panel = app.client().predict(api_name="/runs")

    assert table["data"][0][:2] == [run_id, "running"]
    assert f"Run {run_id}" in panel and "step 15/60" in panel and "loss 0.5000" in panel and "ETA 42 s" in panel
    assert "width:25.0%" in panel

    # The browser refreshes the same panel from a 2-second timer (a private event, not part of the API).
    config = httpx.get(app.url + "config", timeout=10).json()
    ids = {c["props"].get("label"): c["id"] for c in config["components"] if c["type"] in ("dataframe", "html")}
    timer = next(c for c in config["components"] if c["type"] == "timer")
    assert timer["props"]["value"] == web.POLL_SECONDS
    tick = next(d for d in config["dependencies"] if d["targets"] == [[timer["id"], "tick"]])
    assert {ids[web.RUNS_LABEL], ids["Active run"]} <= set(tick["outputs"])


@pytest.mark.slow
def test_chat_answers_while_a_real_run_trains_and_the_panel_follows_it(
    app: App, tiny_bert: Path, tmp_path: Path
) -> None:
    from gradio_client import handle_file

    client = app.client()
    shutil.copytree(tiny_bert, app.assistant.workspace.models / "tiny")  # the chat names models in the workspace
    data = write_tsv(tmp_path / "reviews.tsv", 80)
    client.predict({"text": "fine-tune a classifier on this", "files": [handle_file(str(data))]}, api_name="/chat")
    planned, _, _ = client.predict({"text": "use model tiny and 20 epochs", "files": []}, api_name="/chat")
    assert "**Waiting for your yes:** Train" in chat_text(planned[-1:]) and "model tiny" in chat_text(planned[-1:])
    started, _, _ = client.predict({"text": "go", "files": []}, api_name="/chat")
    assert "Started **run 1**" in chat_text(started)
    try:
        check_panel_follows_run_and_stop(client)
    finally:  # never leave a training worker behind, whatever failed above
        if app.assistant.registry.get_run(1)["status"] in web_view.ACTIVE_STATUSES:
            runs.stop_run(app.assistant.workspace, app.assistant.registry, 1)


def check_panel_follows_run_and_stop(client: Any) -> None:
    # The training worker is its own process: the chat answers while the run is still active.
    status_chat, _, _ = client.predict({"text": "status", "files": []}, api_name="/chat")
    assert "run 1" in chat_text(status_chat[-1:]).lower()
    table, panel = client.predict(api_name="/runs")
    run_id, status = table["data"][0][:2]
    assert run_id == 1 and status in ("queued", "running")  # queued until the worker has started
    assert f"<b>Run 1</b>: {status}" in panel

    stopped, _, _ = client.predict({"text": "stop", "files": []}, api_name="/chat")
    assert "🔧 stop_run" in [m["metadata"]["title"] for m in stopped if m.get("metadata")]
    table, panel = client.predict(api_name="/runs")
    assert table["data"][0][:2] == [1, "cancelled"]
    assert "<b>Run 1</b>: cancelled" in panel


def test_evaluation_images_are_shown_in_the_chat_and_served(app: App) -> None:
    from trainer.evaluate.plots import plot_confusion_matrix

    registry, workspace = app.assistant.registry, app.assistant.workspace
    run_id = registry.create_run({"task": "text-classification", "model": "tiny", "data": "reviews.tsv"})
    run_dir = workspace.run_dir(run_id)
    png = plot_confusion_matrix([[9, 1], [2, 8]], ["neg", "pos"], run_dir / "confusion_matrix.png")
    evaluation = {
        "accuracy": 0.85,
        "macro_f1": 0.849,
        "labels": ["neg", "pos"],
        "per_class": {
            "neg": {"precision": 0.818, "recall": 0.9, "f1": 0.857, "support": 10},
            "pos": {"precision": 0.889, "recall": 0.8, "f1": 0.842, "support": 10},
        },
        "confusion_matrix": [[9, 1], [2, 8]],
        "baseline": {"label": "neg", "accuracy": 0.5, "macro_f1": 0.333},
        "test_size": 20,
        "confusion_matrix_png": str(png),
    }
    (run_dir / "evaluation.json").write_text(json.dumps(evaluation), encoding="utf-8")
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir), metrics=evaluation)

    chatbot, _, _ = app.client().predict({"text": f"results of run {run_id}", "files": []}, api_name="/chat")

    answer = chatbot[-1]["content"]
    assert "0.85" in answer[0]["text"]
    files = [part["file"] for part in answer if part.get("type") == "file"]
    assert len(files) == 1 and files[0]["path"].endswith(".png")
    served = httpx.get(files[0]["url"], timeout=10)
    assert served.status_code == 200
    assert served.content == png.read_bytes()
