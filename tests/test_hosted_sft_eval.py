"""An SFT run tuned through a hosted API (OpenAI's and every other in tests/hosted_cases.py, each behind a
loopback fake) is evaluated like a local run of the same file: the same held-out chats, the same metrics, its base
model beside it; one comparison holds every run and every base, on one held-out split it names."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fake_openai_ft import BASE_ANSWER, FakeFineTuning
from hosted_cases import HOSTED_CASES
from hosted_runs import CANARY, stop_followers
from toy_data import chat_rows, write_jsonl

from tools.context import ToolContext
from tools.run_tools import compare_runs
from trainer.backends import runs
from trainer.backends.base import HostedBackend
from trainer.backends.local import create_run
from trainer.backends.openai.plan import make_plan
from trainer.backends.registry import get_backend
from trainer.core.fileio import read_json, read_jsonl
from trainer.evaluate.held_out import fingerprint, held_out_note, held_out_of
from trainer.plan.config import resolve_config
from trainer.tasks.causal_lm.data import load_chats, split
from trainer.tasks.causal_lm.train import train_llm_run
from ui.render import MARKDOWN


def _wait(ctx: ToolContext, run_id: int, timeout: float = 90) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = runs.run_status(ctx.workspace, ctx.registry, run_id)
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} stayed {status['status']}")


def test_the_hosted_split_is_the_local_split(fake: FakeFineTuning, tmp_path: Path) -> None:
    ctx = ToolContext.from_env(session_id="s1")
    path = write_jsonl(tmp_path / "chat.jsonl", chat_rows(48))
    uploaded = ctx.workspace.import_file(path, session_id=ctx.session_id)
    plan = make_plan(ctx.workspace, uploaded, "gpt-4.1-mini", {"seed": 7})
    train, validation = split(load_chats(path, {}), 0.1, 7)
    assert plan["counts"] == {"train": len(train), "validation": len(validation), "test": 0}
    assert read_jsonl(Path(plan["files"]["validation"])) == validation
    assert read_jsonl(Path(plan["files"]["train"])) == train


@pytest.mark.slow
def test_local_and_hosted_sft_runs_are_evaluated_alike_on_one_held_out_split(
    tmp_path: Path,
    tiny_llm: Path,
    offline_workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """One chat file trained here and through every hosted backend of HOSTED_CASES (each behind its loopback
    server): every run answers the same held-out chats, scored by the same metrics, its base model beside it,
    and `compare` shows all of them on one split (its name, size and hash)."""
    ctx = ToolContext.from_env(session_id="s1")
    path = write_jsonl(tmp_path / "chat.jsonl", chat_rows(48))
    uploaded = ctx.workspace.import_file(path, session_id=ctx.session_id)
    local_config = {"data": str(uploaded), "task": "sft", "model": str(tiny_llm), "val_fraction": 0.25}
    local_id = create_run(
        ctx.workspace, ctx.registry, resolve_config({**local_config, "epochs": 1, "batch_size": 8, "max_length": 64})
    )
    assert train_llm_run(ctx.workspace.run_dir(local_id), ctx.registry, local_id)["status"] == "succeeded"
    local_eval = read_json(ctx.workspace.run_dir(local_id) / "evaluation.json")

    run_ids = [local_id]
    with ExitStack() as stack:
        for case in HOSTED_CASES:
            server = case.start(stack, monkeypatch)
            backend = get_backend(case.backend)
            assert isinstance(backend, HostedBackend)
            plan = backend.plan(ctx.workspace, uploaded, case.model, {"val_fraction": 0.25})
            hosted = backend.confirm(ctx.workspace, ctx.registry, plan["plan_id"], session_id=ctx.session_id)
            final = _wait(ctx, hosted["run_id"])
            assert final["status"] == "succeeded", (case, final.get("error"))
            run_ids.append(int(hosted["run_id"]))
            evaluation = read_json(Path(final["run_dir"]) / "evaluation.json")
            held_out = evaluation["held_out_answers"]
            assert len(held_out) == evaluation["validation_size"] == plan["counts"]["validation"] == 12
            metrics = ctx.registry.get_run(hosted["run_id"])["metrics"]
            assert metrics["token_f1"] == evaluation["token_f1"] and "hosted_valid_loss" in evaluation
            # The local run answers the very same held-out prompts, scored by the same metrics.
            assert [(r["messages"], r["reference"]) for r in local_eval["held_out_answers"]] == [
                (r["messages"], r["reference"]) for r in held_out
            ]
            assert local_eval["answer_metrics"]["metrics"] == evaluation["answer_metrics"]["metrics"]
            if isinstance(server, FakeFineTuning):
                assert [q[-1]["content"] for q in server.base_questions] == [row["prompt"] for row in held_out]
            # The base model was asked the same prompts (it answers what it always answers); the tuned one learnt
            # them.
            assert all(row["base"] == BASE_ANSWER for row in held_out)
            assert evaluation["token_f1"] > 0.8 > evaluation["base"]["token_f1"]
            base_model = plan["model"]
            assert evaluation["base_model"] == base_model == (case.model or backend.default_model)
            comparison = compare_runs(ctx, [hosted["run_id"], local_id])
            rows = {row["metric"]: row["values"] for row in comparison["metric_rows"]}
            assert rows["token_f1"] == [evaluation["token_f1"], local_eval["token_f1"]]
            bases = {base["model"]: base for base in comparison["base_models"]}
            shown = base_model.rsplit("/", 1)[-1]  # a comparison names a model by its last part, as a folder's
            assert set(bases) == {shown, tiny_llm.name}
            index = [row["metric"] for row in comparison["metric_rows"]].index("token_f1")
            assert bases[shown]["values"][index] == evaluation["base"]["token_f1"]
            assert bases[tiny_llm.name]["values"][index] == local_eval["base"]["token_f1"]
            text = MARKDOWN.comparison(comparison)
            assert f"base model {shown}" in text and f"base model {tiny_llm.name}" in text
        stop_followers(offline_workspace)

    # All of them side by side: one held-out split, named by its size and hash in every column.
    fingerprints = [held_out_of(ctx.workspace.run_dir(run_id)) for run_id in run_ids]
    assert fingerprints[0] is not None and fingerprints[0]["split"] == "validation" and fingerprints[0]["size"] == 12
    assert all(found == fingerprints[0] for found in fingerprints)
    comparison = compare_runs(ctx, run_ids)
    assert comparison["held_out"] == fingerprints
    backends = next(row for row in comparison["config_rows"] if row["field"] == "backend")["values"]
    assert backends == ["local", *(case.backend for case in HOSTED_CASES)]
    text = MARKDOWN.comparison(comparison)
    sha = fingerprints[0]["sha256"]
    assert f"All the runs were evaluated on the same held-out rows (validation split, 12 rows, sha256 {sha})" in text
    assert text.count(f"validation, 12 rows, sha256 `{sha}`") == len(run_ids)
    leaks = [p for p in offline_workspace.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    out, err = capfd.readouterr()
    assert leaks == [] and CANARY not in out + err


def test_runs_on_different_rows_are_told_apart() -> None:
    same, other = fingerprint("test", [{"text": "a", "label": "x"}]), fingerprint("test", [{"text": "b", "label": "x"}])
    assert str(held_out_note([1, 2], [same, dict(same)])).startswith("All the runs were evaluated on the same")
    note = str(held_out_note([1, 2, 3], [same, other, None]))
    assert "different held-out rows (runs 1; runs 2)" in note and "do not compare directly" in note
    assert held_out_note([1, 2], [same, None]) is None
