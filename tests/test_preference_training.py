"""Preference tuning beyond DPO on a tiny Llama built in the tests: KTO on answers marked good or bad, ORPO on
pairs (its own task, not an alias of DPO), the held-out reward accuracy before and after, and the plans' reasons
(KTO's class weights, DPO or ORPO for the model at hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from run_records import train_llm_here
from toy_data import kto_rows, write_jsonl

from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from trainer.tasks.base import PlanRequest
from trainer.tasks.registry import get_task, task_for_data
from ui.cli import main


def _train(settings: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    return train_llm_here({"method": "lora", **settings})


def _losses(run_dir: Path) -> list[float]:
    return [row["loss"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]


@pytest.mark.slow
def test_kto_on_llama_factory_rows_lowers_the_loss_and_moves_good_and_bad_answers_apart(tiny_llm, tmp_path):
    data = write_jsonl(tmp_path / "kto.jsonl", kto_rows(32))  # {"messages": [...], "label": true/false}
    run_dir, evaluation = _train(
        {"data": str(data), "task": "kto", "model": str(tiny_llm), "learning_rate": 1e-2, "epochs": 2}
    )
    losses = _losses(run_dir)
    assert abs(losses[0] - 0.5) < 0.01, losses  # KTO's loss is 1 - sigmoid(0) while the policy is the reference
    assert losses[-1] < losses[0] - 0.1, losses
    preference = evaluation["preference"]
    assert preference["kind"] == "labels" and preference["before"]["desirable"] == 4
    assert preference["before"]["undesirable"] == 4
    # The wrong answers are learnable as wrong: most held-out ones fall, most right ones rise.
    assert evaluation["reward_accuracy"] >= 0.75, preference
    assert preference["after"]["undesirable_logp_per_token"] < preference["before"]["undesirable_logp_per_token"]


@pytest.mark.slow
def test_orpo_is_its_own_trainer_and_lowers_the_loss(tiny_llm, pairs_jsonl):
    run_dir, evaluation = _train(
        {"data": str(pairs_jsonl), "task": "orpo", "model": str(tiny_llm), "learning_rate": 1e-2, "epochs": 1}
    )
    losses = _losses(run_dir)
    # ORPO's loss holds the SFT loss of the chosen answer (several nats here), unlike DPO's log(2) start.
    assert losses[0] > 2.0 and losses[-1] < losses[0] - 0.5, losses
    assert evaluation["task"] == "orpo" and evaluation["preference"]["kind"] == "pairs"
    assert get_task("orpo").trainer_class().__name__ == "ORPOTrainer"  # type: ignore[attr-defined]
    assert read_json(run_dir / "model" / "tunechat.json")["task"] == "orpo"


@pytest.mark.slow
def test_dpo_raises_the_held_out_reward_accuracy_on_separable_pairs(tiny_llm, pairs_jsonl):
    run_dir, evaluation = _train(
        {"data": str(pairs_jsonl), "task": "dpo", "model": str(tiny_llm), "learning_rate": 2e-2, "epochs": 3}
    )
    before, after = evaluation["preference"]["before"], evaluation["preference"]["after"]
    assert before["pairs"] == after["pairs"] == 8
    assert evaluation["reward_accuracy"] == 1.0 and evaluation["reward_margin"] > 0
    assert after["normalized_accuracy"] > before["normalized_accuracy"], (before, after)
    assert evaluation["reward_accuracy"] > evaluation["reward_accuracy_before"]
    # The run's registry row keeps the task's metrics, so runs can be listed and compared by them.
    from tools.context import ToolContext

    row = ToolContext.from_env().registry.get_run(int(run_dir.name.split("-")[1]))
    assert row["metrics"]["reward_accuracy"] == 1.0


def test_kto_file_with_one_label_is_refused_in_one_sentence(tiny_llm, tmp_path, capsys):
    rows = [row for row in kto_rows(16) if row["label"]]
    data = write_jsonl(tmp_path / "all_good.jsonl", rows)
    code = main(["train", "--data", str(data), "--model", str(tiny_llm), "--task", "kto"])
    err = capsys.readouterr().err
    assert code == 1
    assert "'all_good.jsonl' has only desirable answers (8 marked true)" in err
    assert "add some undesirable ones (marked false), or train SFT on the good answers" in err


def test_kto_weights_follow_trls_guidance_when_labels_are_imbalanced(tiny_llm, tmp_path):
    rows = kto_rows(16, messages=False)  # TRL's unpaired form: prompt, completion, label
    rows = [row for i, row in enumerate(rows) if row["label"] or i % 6 == 1]  # 8 good, 3 bad
    data = write_jsonl(tmp_path / "skewed.jsonl", rows)
    assert task_for_data(data).name == "kto"
    examples = get_task("kto").load_examples(data)
    assert examples[0]["prompt"][0]["role"] == "user" and examples[0]["completion"][0]["role"] == "assistant"
    plan = get_task("kto").propose(PlanRequest(data, {"model": str(tiny_llm)}))
    good, bad = plan.config["kto_desirable_weight"], plan.config["kto_undesirable_weight"]
    assert good == 1.0 and bad > 1.0
    # TRL (KTO paper, eq. 8): desirable_weight * n_desirable / (undesirable_weight * n_undesirable) in [1, 4/3].
    assert 1.0 <= good * 8 / (bad * 3) <= 4 / 3
    row = next(row for row in plan.table if row.setting == "KTO weights")
    assert "8 desirable vs 3 undesirable" in row.reason and "undesirable ones weigh 2.66" in row.reason
    assert "KTO" in next(row.reason for row in plan.table if row.setting == "task")


def test_orpo_is_a_task_of_its_own_and_the_plan_says_when_it_suits(tiny_llm, pairs_jsonl, tmp_path):
    assert get_task("orpo").name == "orpo" and get_task("dpo").name == "dpo"
    assert task_for_data(pairs_jsonl).name == "dpo"  # pairs go to DPO unless ORPO is asked for
    dpo = get_task("dpo").propose(PlanRequest(pairs_jsonl, {"model": str(tiny_llm)}))
    reason = next(row.reason for row in dpo.table if row.setting == "task")
    assert "is instruction-tuned (it has a chat template): DPO fits it" in reason
    assert "ORPO (task orpo) needs no reference model" in reason
    base = tmp_path / "base-model"
    base.mkdir()
    (base / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    orpo = get_task("orpo").propose(PlanRequest(pairs_jsonl, {"model": str(base), "method": "full"}))
    reason = next(row.reason for row in orpo.table if row.setting == "task")
    assert "has no chat template, so it looks like a base model: ORPO fits it" in reason
    assert orpo.config["learning_rate"] == 8e-6


def test_preference_figures_are_shown_with_the_run(tmp_path):
    from ui.render.runs import render_llm_evaluation

    pairs = {
        "kind": "pairs",
        "beta": 0.1,
        "before": {"pairs": 8, "likelihood_accuracy": 0.25, "normalized_accuracy": 0.5},
        "after": {
            "pairs": 8,
            "likelihood_accuracy": 0.75,
            "normalized_accuracy": 1.0,
            "reward_accuracy": 1.0,
            "reward_margin": 1.234,
        },
    }
    text = render_llm_evaluation({"task": "dpo", "eval_loss": 0.3, "preference": pairs})
    assert "**Held-out pairs** (8)" in text and "| after | 75% | 100% | 100% | 1.234 |" in text
    assert "perplexity" not in text  # a preference loss has none
    labels = {
        "kind": "labels",
        "before": {"desirable": 3, "undesirable": 2, "desirable_logp_per_token": -2.0},
        "after": {"desirable_rose": 2 / 3, "undesirable_fell": 1.0, "reward_accuracy": 0.8},
    }
    text = render_llm_evaluation({"task": "kto", "preference": labels})
    assert "(3 desirable, 2 undesirable): likelihood moved the right way for 80%" in text
    assert "| after | 67% | 100% |" in text
    with pytest.raises(UserError):
        get_task("kto").load_examples(write_jsonl(tmp_path / "none.jsonl", [{"messages": [], "label": True}]))


@pytest.mark.slow
def test_held_out_pairs_whose_prompt_fills_max_length_are_left_out_of_the_figures(tiny_llm_loaded, tmp_path):
    from trainer.tasks.causal_lm.preference_eval import PairProbe

    model, tokenizer = tiny_llm_loaded
    short = {
        "prompt": [{"role": "user", "content": "what color is the sky"}],
        "chosen": [{"role": "assistant", "content": "the sky is blue"}],
        "rejected": [{"role": "assistant", "content": "i do not know"}],
    }
    long = {**short, "prompt": [{"role": "user", "content": "what color is the sky " * 40}]}
    probe = PairProbe([short, long, short], beta=0.1, max_length=48)
    probe.start(model, tokenizer, tmp_path / "reference.json")
    assert probe.before["pairs"] == 2  # the long prompt leaves its answers no token: not counted as a loss
    figures = probe.finish(model, tokenizer)
    # The same model before and after: no implicit reward, so no pair is ranked either way.
    assert figures["reward_margin"] == 0.0 and figures["reward_accuracy"] == 0.0
    assert figures["preference"]["after"]["likelihood_margin"] == probe.before["likelihood_margin"]
