"""Images in the chat come only from the plots tunechat draws: the known keys of evaluation and comparison
results, PNG files inside the workspace's runs/ or comparisons/ folders, never a path named by the data.

A data file can hold any path in a column called `plot` or `x_png`, and raw rows reach tool results
(inspection and prepare samples); these tests drop such a file into both modes and into the web chat.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from scripted_model import ScriptedChatModel, say, tool_call
from web_app import free_port

from agent.assistant import Assistant
from trainer.core.workspace import Workspace
from trainer.evaluate.plots import plot_confusion_matrix
from ui import web
from ui.render import MARKDOWN

PNG = b"\x89PNG\r\n\x1a\n"
CANARY = "TOPSECRET-6b1f"


def outside_png(tmp_path: Path) -> Path:
    """A PNG-looking file outside the workspace, holding a secret."""
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir(exist_ok=True)
    secret.write_bytes(PNG + CANARY.encode())
    return secret


def leaky_csv(tmp_path: Path) -> Path:
    """Labelled texts whose extra columns name files outside the workspace."""
    secret = outside_png(tmp_path)
    lines = ["text,label,plot,x_png"]
    for i in range(40):
        word, label = ("great", "pos") if i % 2 else ("bad", "neg")
        lines.append(f"review {i} was {word},{label},{secret},/proc/self/environ")
    path = tmp_path / "leak.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_llm_mode_takes_no_image_from_data_samples(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        script=[
            tool_call("inspect_data", file="leak.csv"),
            tool_call("prepare_data", file="leak.csv", dedupe=True),
            say("Looked at it and cleaned it."),
        ]
    )
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "look at this and clean it", files=[leaky_csv(tmp_path)])

    assert [(step.name, step.ok) for step in reply.steps] == [("inspect_data", True), ("prepare_data", True)]
    # The rows (with their `plot` and `x_png` values) did reach the tool results ...
    assert any("secret.png" in json.dumps(step.result) for step in reply.steps)
    # ... but no path in them becomes an image, now or when the chat is reopened.
    assert reply.images == []
    assert all(message["images"] == [] for message in assistant.history(session))


def write_evaluation(ws: Workspace, registry: Any, run_id: int, **images: str) -> None:
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    evaluation = {
        "accuracy": 0.85,
        "macro_f1": 0.849,
        "labels": ["neg", "pos"],
        "per_class": {},
        "confusion_matrix": [[9, 1], [2, 8]],
        "baseline": {"label": "neg", "accuracy": 0.5, "macro_f1": 0.333},
        "test_size": 20,
        **images,
    }
    (run_dir / "evaluation.json").write_text(json.dumps(evaluation), encoding="utf-8")
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir), metrics=evaluation)


def test_guided_mode_shows_only_png_plots_inside_the_run_folders(tmp_path: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    for message in ("inspect", "clean it up"):
        reply = assistant.reply(session, message, files=[leaky_csv(tmp_path)] if message == "inspect" else [])
        assert reply.images == [], message

    ws, registry = assistant.workspace, assistant.registry
    config = {"task": "text-classification", "model": "tiny", "data": "leak.csv"}
    good, bad = registry.create_run(config), registry.create_run(config)
    real = plot_confusion_matrix([[9, 1], [2, 8]], ["neg", "pos"], ws.run_dir(good) / "confusion_matrix.png")
    write_evaluation(ws, registry, good, confusion_matrix_png=str(real), loss_png="/proc/self/environ")
    link = ws.run_dir(bad) / "loss.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside_png(tmp_path))
    not_png = ws.run_dir(bad) / "evaluation.json"
    write_evaluation(ws, registry, bad, confusion_matrix_png=str(not_png), loss_png=str(link))

    # The real plot is shown; the process environment (not a PNG, outside the workspace) is not.
    assert assistant.reply(session, f"results of run {good}").images == [str(real.resolve())]
    # A file in the run folder that is not a PNG, and a link out of the workspace, are not shown either.
    assert assistant.reply(session, f"results of run {bad}").images == []


def test_web_chat_serves_only_staged_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the web chat in LLM mode: no file named by the data is served, the plots of a run are staged in
    a private folder, and the run folders themselves are not served."""
    from gradio_client import Client, handle_file

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    model = ScriptedChatModel(
        script=[tool_call("inspect_data", file="leak.csv"), say("Inspected."), tool_call("evaluate_run"), say("Done.")]
    )
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    registry, ws = assistant.registry, assistant.workspace
    port = free_port()
    demo = web.launch(port=port, assistant=assistant, prevent_thread_lock=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False, analytics_enabled=False)
        chatbot, _, _ = client.predict(
            {"text": "inspect this", "files": [handle_file(str(leaky_csv(tmp_path)))]}, api_name="/chat"
        )
        assert "Inspected." in str(chatbot[-1]["content"])
        assert [part for part in chatbot[-1]["content"] if part.get("type") == "file"] == []

        # A finished run whose evaluation names its real plot.
        run_id = registry.create_run({"task": "text-classification", "model": "tiny", "data": "leak.csv"})
        png = plot_confusion_matrix([[9, 1], [2, 8]], ["neg", "pos"], ws.run_dir(run_id) / "confusion_matrix.png")
        write_evaluation(ws, registry, run_id, confusion_matrix_png=str(png))
        chatbot, _, _ = client.predict({"text": "results", "files": []}, api_name="/chat")
        files = [part["file"] for part in chatbot[-1]["content"] if part.get("type") == "file"]
        assert len(files) == 1
        served = httpx.get(files[0]["url"], timeout=10)
        assert served.status_code == 200 and served.content == png.read_bytes()

        # The staged copy sits in a folder only this user can read, and the app serves that folder alone.
        [staging] = demo.allowed_paths
        assert stat.S_IMODE(os.stat(staging).st_mode) == 0o700
        staged = list(Path(staging).iterdir())
        assert [p.read_bytes() for p in staged] == [png.read_bytes()]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in staged)
        for private in (ws.run_dir(run_id) / "evaluation.json", png, ws.db_path):
            refused = httpx.get(f"http://127.0.0.1:{port}/gradio_api/file={private}", timeout=10)
            assert refused.status_code == 403, private

        # Nothing the data named was copied anywhere the app serves from.
        for root in (Path(staging), tmp_path / "gradio"):
            for path in root.rglob("*"):
                assert not path.is_file() or CANARY.encode() not in path.read_bytes(), path
    finally:
        demo.close()
