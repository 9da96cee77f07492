"""Faults in real processes: the UI killed while a run trains, a training worker killed, the database held by
another writer past the busy timeout. (A full disk: tests/test_disk_full.py.)"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults import ROOT, UiProcess, chat_text, child_env, hold_write_lock, one_sentence, say, write_reviews

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.diagnose_tools import diagnose_run
from tools.run_tools import stop_run
from trainer.backends import runs
from trainer.backends.local import PROCESS_DIED
from trainer.core.errors import UserError
from trainer.core.fileio import read_json_object
from trainer.core.processes import process_alive
from trainer.core.workspace import Workspace
from trainer.plan.launch import WORKER_MODULE
from trainer.store.registry import Registry
from ui.render import MARKDOWN

# Far more epochs than a test waits for: the run is still training whenever the test acts on it.
LONG = "use model tiny and 500 epochs"


def wait_training(registry: Registry, run_id: int, run_dir: Path, timeout_s: float = 120) -> int:
    """Wait for the run's worker to have done two steps; return its pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = registry.get_run(run_id)
        assert run["status"] in ("queued", "running"), run["error"]
        progress = read_json_object(run_dir / "progress.json")
        if run["status"] == "running" and run["pid"] and progress.get("phase") == "training":
            if (progress.get("step") or 0) >= 2:
                return int(run["pid"])
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not train: {(run_dir / 'train.log').read_text()[-2000:]}")


def end_worker(registry: Registry, run_id: int) -> None:
    """Never leave a training worker behind, whatever the test did (it leads its own process group)."""
    pid = registry.get_run(run_id)["pid"]
    if pid and process_alive(int(pid), (WORKER_MODULE,)):
        os.killpg(int(pid), signal.SIGKILL)


@pytest.mark.slow
def test_the_ui_killed_mid_run_restarts_with_the_run_listed_and_its_chat_going_on(
    offline_workspace: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    from gradio_client import handle_file

    workspace = Workspace.from_env()
    shutil.copytree(tiny_bert, workspace.models / "tiny")
    registry = Registry(workspace.db_path)
    log = tmp_path / "ui.log"
    ui = UiProcess(workspace.root, log)
    restarted: UiProcess | None = None
    try:
        client = ui.client()
        say(client, "fine-tune a classifier on this", [handle_file(str(write_reviews(tmp_path / "r.tsv", 80)))])
        say(client, LONG)
        started, session = say(client, "go")
        assert "Started **run 1**" in started
        worker = wait_training(registry, 1, workspace.run_dir(1))

        os.kill(ui.process.pid, signal.SIGKILL)  # no chance to clean up: as a crash or the OOM killer would
        ui.process.wait()
        # The worker is its own session's leader: it trains on without the UI.
        time.sleep(1.0)
        assert process_alive(worker, (WORKER_MODULE,)) and registry.get_run(1)["status"] == "running"

        restarted = UiProcess(workspace.root, log)
        client = restarted.client()
        table, panel = client.predict(api_name="/runs")
        assert table["data"][0][:2] == [1, "running"] and "<b>Run 1</b>: running" in panel
        reopened = client.predict(session, api_name="/open_session")
        assert "Started **run 1**" in chat_text(reopened)
        answer, same = say(client, "status")
        assert same == session and "Run 1" in answer and "running" in answer
        stopped, _ = say(client, "stop")
        assert "cancelled" in stopped
        assert registry.get_run(1)["status"] == "cancelled" and not process_alive(worker, (WORKER_MODULE,))
        assert [m["role"] for m in Assistant(presenter=MARKDOWN).history(session)] == ["user", "assistant"] * 5
    finally:
        end_worker(registry, 1)
        ui.stop()
        if restarted is not None:
            restarted.stop()


@pytest.mark.slow
def test_a_killed_worker_fails_the_run_with_the_reason_and_the_diagnosis_says_it_was_killed(
    assistant_with_tiny_model: tuple[Assistant, str], reviews_tsv: Path
) -> None:
    assistant, session = assistant_with_tiny_model
    assistant.reply(session, "fine-tune a classifier on this", files=[reviews_tsv])
    assistant.reply(session, LONG)
    assert "Started **run 1**" in assistant.reply(session, "go").text
    try:
        worker = wait_training(assistant.registry, 1, assistant.workspace.run_dir(1))
        os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer would: nothing recorded on the way out
        deadline = time.monotonic() + 20
        while process_alive(worker, (WORKER_MODULE,)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        end_worker(assistant.registry, 1)

    status = assistant.reply(session, "status").text
    assert "failed" in status and PROCESS_DIED in status
    run = assistant.registry.get_run(1)
    assert run["status"] == "failed" and run["error"].startswith(PROCESS_DIED)
    assert str(assistant.workspace.run_dir(1) / "train.log") in run["error"]  # where to look

    why = assistant.reply(session, "why did run 1 fail?").text
    assert "training process was killed" in why
    diagnosis = diagnose_run(assistant.context(session), 1)
    assert diagnosis["cause"] == "interrupted" and diagnosis["can_relaunch"]
    assert "was killed without recording an error" in diagnosis["explanation"]


@pytest.mark.slow
def test_a_database_held_by_another_writer_is_one_sentence_and_nothing_is_corrupted(
    ws: Workspace, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNECHAT_DB_TIMEOUT_S", "1")
    run_id = registry.create_run({"task": "text-classification", "model": "tiny", "data": "reviews.tsv"}, "s1")
    ctx = ToolContext(ws, registry, "s1")  # the chat that started the run stops it without a plan
    assistant = Assistant(workspace=ws, chat_model=None, presenter=MARKDOWN)
    locker = hold_write_lock(ws.db_path, seconds=60)
    try:
        started = time.monotonic()
        with pytest.raises(UserError) as caught:
            stop_run(ctx, run_id)
        assert 1.0 <= time.monotonic() - started < 30
        message = str(caught.value)
        one_sentence(message)
        assert message.startswith(f"The tunechat database {ws.db_path} is locked") and "try again" in message

        # The chat says the same sentence; the command line too, in one line on stderr with exit code 1.
        with pytest.raises(UserError, match="is locked"):
            assistant.reply("s1", "list runs")
        cli = subprocess.run(
            [sys.executable, "-m", "ui.cli", "stop", str(run_id)],
            capture_output=True,
            text=True,
            env=child_env(),
            cwd=ROOT,
            timeout=120,
        )
        assert cli.returncode == 1 and cli.stderr.strip().splitlines() == [f"error: {message}"], cli.stderr[-2000:]
        # Readers are not blocked by the writer (WAL): the run can still be looked at.
        assert runs.run_status(ws, registry, run_id)["status"] == "queued"
    finally:
        locker.kill()  # mid-transaction, as harsh as it gets
        locker.wait()

    with sqlite3.connect(ws.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    run = registry.get_run(run_id)
    assert run["status"] == "queued" and run["error"] is None  # neither the locker's half nor ours landed
    assert stop_run(ctx, run_id)["status"] == "cancelled"  # and the same request works now
