"""One file trained on this machine and through every hosted backend (each behind its loopback server), then
compared: every run is scored on the same held-out rows, and `compare` shows which (split, size, hash)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from hosted_cases import HOSTED_CASES
from hosted_runs import CANARY, stop_followers
from toy_data import chat_rows, write_jsonl

from tools.context import ToolContext
from tools.run_tools import compare_runs
from trainer.backends import runs
from trainer.backends.base import HostedBackend
from trainer.backends.local import create_run
from trainer.backends.registry import get_backend
from trainer.core.fileio import read_json
from trainer.evaluate.held_out import held_out_of
from trainer.plan.config import resolve_config
from trainer.tasks.causal_lm.train import train_llm_run
from ui.render import MARKDOWN

# The split both sides use: a quarter of the chats held out, a seed other than the default.
SPLIT = {"val_fraction": 0.25, "seed": 7}


def _finished(ctx: ToolContext, run_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = runs.run_status(ctx.workspace, ctx.registry, run_id)
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} stayed {status['status']}")


@pytest.mark.slow
def test_local_and_hosted_runs_of_one_file_compare_on_one_held_out_split(
    tmp_path: Path, tiny_llm: Path, offline_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ToolContext.from_env(session_id="s1")
    uploaded = ctx.workspace.import_file(write_jsonl(tmp_path / "chat.jsonl", chat_rows(40)), session_id="s1")
    config = {"data": str(uploaded), "task": "sft", "model": str(tiny_llm), "epochs": 1, "batch_size": 8}
    local_id = create_run(ctx.workspace, ctx.registry, resolve_config({**config, "max_length": 64, **SPLIT}))
    assert train_llm_run(ctx.workspace.run_dir(local_id), ctx.registry, local_id)["status"] == "succeeded"

    run_ids = [local_id]
    with ExitStack() as stack:
        for case in HOSTED_CASES:
            case.start(stack, monkeypatch)
            backend = get_backend(case.backend)
            assert isinstance(backend, HostedBackend)
            plan = backend.plan(ctx.workspace, uploaded, None, dict(SPLIT))
            started = backend.confirm(ctx.workspace, ctx.registry, plan["plan_id"], session_id="s1")
            final = _finished(ctx, int(started["run_id"]))
            assert final["status"] == "succeeded", (case, final.get("error"))
            run_ids.append(int(started["run_id"]))
        stop_followers(offline_workspace)

    # Every run holds out the very same rows, and was scored on them.
    fingerprints = [held_out_of(ctx.workspace.run_dir(run_id)) for run_id in run_ids]
    assert fingerprints[0] == {"split": "validation", "size": 10, "sha256": fingerprints[0]["sha256"]}
    assert all(found == fingerprints[0] for found in fingerprints)
    answered = [read_json(ctx.workspace.run_dir(r) / "evaluation.json")["held_out_answers"] for r in run_ids]
    assert all([a["reference"] for a in one] == [a["reference"] for a in answered[0]] for one in answered)

    comparison = compare_runs(ctx, run_ids)
    assert comparison["held_out"] == fingerprints
    backends = next(row for row in comparison["config_rows"] if row["field"] == "backend")["values"]
    assert backends == ["local", *(case.backend for case in HOSTED_CASES)]
    text = MARKDOWN.comparison(comparison)
    sha = fingerprints[0]["sha256"]
    assert f"same held-out rows (validation split, 10 rows, sha256 {sha})" in text
    assert text.count(f"validation, 10 rows, sha256 `{sha}`") == len(run_ids)
    leaks = [p for p in offline_workspace.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaks == []


def test_runs_on_different_rows_are_told_apart(tmp_path: Path) -> None:
    from trainer.evaluate.held_out import fingerprint, held_out_note

    same, other = fingerprint("test", [{"text": "a", "label": "x"}]), fingerprint("test", [{"text": "b", "label": "x"}])
    assert held_out_note([1, 2], [same, dict(same)]).startswith("All the runs were evaluated on the same")
    note = held_out_note([1, 2, 3], [same, other, None])
    assert "different held-out rows (runs 1; runs 2)" in note and "do not compare directly" in note
    assert held_out_note([1, 2], [same, None]) is None
