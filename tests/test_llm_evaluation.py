"""Language-model runs against their base model on held-out examples: an SFT run's evaluation.json (base and tuned
figures, the answers side by side), and how often greedy answers are closer to the chosen answer than to the
rejected one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from toy_data import FACTS, write_jsonl

from trainer.core.fileio import read_json

# The toy facts with answers of one to three words: short answers, judged by exact match.
SHORT = {question: answer.split()[-1] for question, answer in FACTS}


def _short_chats(n: int = 40) -> list[dict[str, Any]]:
    items = list(SHORT.items())
    return [
        {
            "messages": [
                {"role": "user", "content": items[i % len(items)][0]},
                {"role": "assistant", "content": items[i % len(items)][1]},
            ]
        }
        for i in range(n)
    ]


def _run(settings: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    from tools.context import ToolContext
    from trainer.backends import local
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.train import train_llm_run

    ctx = ToolContext.from_env()
    quick = {"batch_size": 8, "max_length": 64, "save_steps": 1000, "val_fraction": 0.25}
    config = resolve_config({**quick, **settings})
    run_id = local.create_run(ctx.workspace, ctx.registry, config)
    run_dir = ctx.workspace.run_dir(run_id)
    result = train_llm_run(run_dir, ctx.registry, run_id)
    assert result["status"] == "succeeded", result
    return run_dir, read_json(run_dir / "evaluation.json")


@pytest.mark.slow
def test_sft_evaluation_compares_the_tuned_model_with_its_base_on_held_out_chats(tiny_llm, tmp_path):
    data = write_jsonl(tmp_path / "short.jsonl", _short_chats(40))
    run_dir, evaluation = _run(
        {"data": str(data), "task": "sft", "model": str(tiny_llm), "method": "full", "learning_rate": 5e-3, "epochs": 8}
    )
    # Short answers: exact match and token F1 chosen, the free-text metrics not computed.
    assert evaluation["answer_metrics"]["metrics"] == ["exact_match", "token_f1"]
    assert "rouge_l" not in evaluation and "chrf" not in evaluation
    base = evaluation["base"]
    assert set(base) >= {"eval_loss", "perplexity", "exact_match", "token_f1"}
    # Over-trained on eight facts it has seen many times, the tuned model beats the untrained base.
    assert evaluation["eval_loss"] < base["eval_loss"] - 1.0, (evaluation["eval_loss"], base)
    assert evaluation["perplexity"] < base["perplexity"]
    assert evaluation["exact_match"] >= 0.75 and base["exact_match"] == 0.0, evaluation["held_out_answers"]
    assert evaluation["token_f1"] > base["token_f1"]
    answers = evaluation["held_out_answers"]
    assert len(answers) == evaluation["validation_size"] == 10
    for row in answers:
        assert set(row) == {"prompt", "messages", "reference", "base", "tuned"}
        assert row["messages"][-1] == {"role": "user", "content": row["prompt"]}
        assert row["reference"] == SHORT[row["prompt"]]
    # The base figures were measured before training and kept for a resume.
    assert read_json(run_dir / "answers_reference.json")["eval_loss"] == base["eval_loss"]
    # The registry row keeps the tuned figures the task's metrics name (ranking stays by eval loss).
    from tools.context import ToolContext
    from trainer.tasks.registry import get_task

    run = ToolContext.from_env().registry.list_runs()[-1]
    assert run["metrics"]["exact_match"] == evaluation["exact_match"] and get_task("sft").rank_metric == "eval_loss"
