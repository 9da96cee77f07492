"""An SFT run tuned through the OpenAI API (a loopback fake) is evaluated like a local run of the same file: the
same held-out chats, the same metrics, its base model beside it; one comparison holds both runs and both bases."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fake_openai_ft import BASE_ANSWER, FakeFineTuning
from toy_data import chat_rows, write_jsonl

from tools.context import ToolContext
from tools.run_tools import compare_runs
from trainer.backends import runs
from trainer.backends.local import create_run
from trainer.backends.openai.job import confirm_plan
from trainer.backends.openai.plan import make_plan
from trainer.core.fileio import read_json, read_jsonl
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
def test_hosted_sft_is_evaluated_like_a_local_run_and_compared_with_both_bases(
    fake: FakeFineTuning, tmp_path: Path, tiny_llm: Path
) -> None:
    ctx = ToolContext.from_env(session_id="s1")
    path = write_jsonl(tmp_path / "chat.jsonl", chat_rows(48))
    uploaded = ctx.workspace.import_file(path, session_id=ctx.session_id)
    plan = make_plan(ctx.workspace, uploaded, "gpt-4.1-mini", {"val_fraction": 0.25})
    hosted = confirm_plan(ctx.workspace, ctx.registry, plan["plan_id"], session_id=ctx.session_id)
    final = _wait(ctx, hosted["run_id"])
    assert final["status"] == "succeeded", final.get("error")
    evaluation = read_json(Path(final["run_dir"]) / "evaluation.json")
    held_out = evaluation["held_out_answers"]
    assert len(held_out) == evaluation["validation_size"] == plan["counts"]["validation"] == 12
    # The base model was asked the same prompts (and answers what it always answers); the tuned one learnt them.
    assert [q[-1]["content"] for q in fake.base_questions] == [row["prompt"] for row in held_out]
    assert all(row["base"] == BASE_ANSWER for row in held_out)
    assert evaluation["token_f1"] > 0.8 > evaluation["base"]["token_f1"]
    assert evaluation["base_model"] == "gpt-4.1-mini" and "hosted_valid_loss" in evaluation
    metrics = ctx.registry.get_run(hosted["run_id"])["metrics"]
    assert metrics["token_f1"] == evaluation["token_f1"]

    # A local run of the same file answers the very same held-out prompts, scored by the same metrics.
    local_config = dict(plan["config"], backend="local", model=str(tiny_llm), epochs=1, batch_size=8, max_length=64)
    for key in ("suffix", "n_epochs", "openai_batch_size", "learning_rate_multiplier"):
        local_config.pop(key)
    local_id = create_run(ctx.workspace, ctx.registry, resolve_config(local_config))
    assert train_llm_run(ctx.workspace.run_dir(local_id), ctx.registry, local_id)["status"] == "succeeded"
    local_eval = read_json(ctx.workspace.run_dir(local_id) / "evaluation.json")
    assert [(r["messages"], r["reference"]) for r in local_eval["held_out_answers"]] == [
        (r["messages"], r["reference"]) for r in held_out
    ]
    assert local_eval["answer_metrics"]["metrics"] == evaluation["answer_metrics"]["metrics"]

    comparison = compare_runs(ctx, [hosted["run_id"], local_id])
    rows = {row["metric"]: row["values"] for row in comparison["metric_rows"]}
    assert rows["token_f1"] == [evaluation["token_f1"], local_eval["token_f1"]]
    bases = {base["model"]: base for base in comparison["base_models"]}
    assert set(bases) == {"gpt-4.1-mini", tiny_llm.name}
    index = [row["metric"] for row in comparison["metric_rows"]].index("token_f1")
    assert bases["gpt-4.1-mini"]["values"][index] == evaluation["base"]["token_f1"]
    assert bases[tiny_llm.name]["values"][index] == local_eval["base"]["token_f1"]
    text = MARKDOWN.comparison(comparison)
    assert "base model gpt-4.1-mini" in text and f"base model {tiny_llm.name}" in text
