"""Starting, watching and stopping training processes through the runner."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from trainer.backends import local, runs
from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.processes import CHILDREN
from trainer.core.workspace import Workspace
from trainer.plan.config import resolve_config
from trainer.store.registry import Registry

# Far more epochs than a test waits for, so the run is still training when the test acts on it.
LONG: dict[str, Any] = {"epochs": 500, "learning_rate": 1e-3, "batch_size": 8}


def _create(
    ws: Workspace, registry: Registry, data: Path, model: Path, session_id: str | None = None, **settings: Any
) -> int:
    uploaded = ws.import_file(data)
    config = resolve_config({"data": uploaded.name, "model": str(model), **settings})
    return local.create_run(ws, registry, config, session_id=session_id)


def _wait_until_training(ws: Workspace, registry: Registry, run_id: int, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = runs.run_status(ws, registry, run_id)
        assert status["status"] in ("queued", "running"), status["error"]
        if status["phase"] == "training" and (status["step"] or 0) >= 2:
            return status
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not start training within {timeout_s} s")


def test_create_run_registers_a_queued_run_with_its_config(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    run_id = _create(ws, registry, reviews_tsv, tiny_bert, session_id="s1", epochs=2)
    run = registry.get_run(run_id)
    assert run["status"] == "queued" and run["session_id"] == "s1" and run["pid"] is None
    assert Path(run["run_dir"]) == ws.run_dir(run_id)
    saved = read_json(ws.run_dir(run_id) / "config.json")
    assert saved == run["config"] and saved["epochs"] == 2 and saved["model"] == str(tiny_bert)


def test_create_run_refuses_a_missing_data_file(ws: Workspace, registry: Registry, tiny_bert: Path) -> None:
    config = resolve_config({"data": "nothing-here.csv", "model": str(tiny_bert)})
    with pytest.raises(UserError, match="There is no file 'nothing-here.csv'"):
        local.create_run(ws, registry, config)
    assert registry.list_runs() == []


@pytest.mark.slow
def test_stop_run_cancels_a_training_run(ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path) -> None:
    run_id = _create(ws, registry, reviews_tsv, tiny_bert, **LONG)
    pid = local.launch(ws, registry, run_id)
    assert runs.latest_active_run(registry) == run_id
    training = _wait_until_training(ws, registry, run_id)
    assert training["status"] == "running" and training["pid"] == pid
    assert training["total_steps"] == 500 * 12 and isinstance(training["eta_s"], float)
    with pytest.raises(UserError, match="already"):
        local.launch(ws, registry, run_id)

    worker = CHILDREN.popen(pid)
    assert worker is not None
    stopped = runs.stop_run(ws, registry, run_id)

    assert stopped["status"] == "cancelled" and stopped["phase"] == "cancelled"
    assert not local.pid_alive(pid)
    assert worker.returncode == 143  # exited on its own after SIGTERM, not killed
    # The worker stopped itself cleanly (SIGTERM honoured at a step boundary), not by SIGKILL.
    assert f"run {run_id} stopped on request" in (ws.run_dir(run_id) / "train.log").read_text()
    assert stopped["step"] < stopped["total_steps"]
    assert runs.latest_active_run(registry) is None
    with pytest.raises(UserError, match=f"Run {run_id} has already finished \\(cancelled\\)"):
        runs.stop_run(ws, registry, run_id)


@pytest.mark.slow
def test_a_worker_that_died_is_reported_failed_with_its_log(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    run_id = _create(ws, registry, reviews_tsv, tiny_bert, **LONG)
    pid = local.launch(ws, registry, run_id)
    _wait_until_training(ws, registry, run_id)

    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would: no chance to record anything
    deadline = time.monotonic() + 20
    status = runs.run_status(ws, registry, run_id)
    while status["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = runs.run_status(ws, registry, run_id)

    assert status["status"] == "failed" and status["phase"] == "failed"
    assert status["error"].startswith("The training process ended without recording a result")
    last_line = (ws.run_dir(run_id) / "train.log").read_text().strip().splitlines()[-1].strip()
    assert last_line[-40:] in status["error"]  # the log's last lines are quoted
    assert registry.get_run(run_id)["error"] == status["error"]


def test_latest_active_run_follows_sessions_and_statuses(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    first = _create(ws, registry, reviews_tsv, tiny_bert, session_id="a")
    second = _create(ws, registry, reviews_tsv, tiny_bert, session_id="a")
    other = _create(ws, registry, reviews_tsv, tiny_bert, session_id="b")
    assert runs.latest_active_run(registry, "a") == second
    assert runs.latest_active_run(registry) == other
    registry.update_run(second, status="succeeded")
    assert runs.latest_active_run(registry, "a") == first
    # A queued run that never started can be stopped: it is simply cancelled.
    assert runs.stop_run(ws, registry, first)["status"] == "cancelled"
    assert runs.latest_active_run(registry, "a") is None


def test_worker_environment_has_no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    env = local.worker_env()
    assert "OPENAI_API_KEY" not in env
    assert env["PYTHONUNBUFFERED"] == "1"
    assert str(Path(local.__file__).resolve().parents[2]) in env["PYTHONPATH"].split(os.pathsep)
