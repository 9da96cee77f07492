"""The forgetting check: its figures on hand-made cases, the verdict and remedy, the general data shipped with
tunechat, general-data replay, and a tiny model over-trained on one sentence against a lightly trained one."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from toy_data import write_jsonl

from trainer.core.fileio import read_json
from trainer.evaluate.forgetting import kl_divergence, kl_from_top_k, remedy, verdict
from trainer.evaluate.general import general_chat_prompts, general_questions, general_texts
from trainer.plan.config import RunConfig, resolve_config
from trainer.tasks.causal_lm.probes import held_out_probes
from trainer.tasks.causal_lm.replay import replay_count, with_replay
from trainer.tasks.registry import get_task

ROOT = Path(__file__).resolve().parents[1]


def test_kl_of_identical_distributions_is_zero_and_of_a_known_pair_is_its_value():
    assert kl_divergence([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    # KL([.5,.5] || [.9,.1]) = .5 ln(.5/.9) + .5 ln(.5/.1)
    assert kl_divergence([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.5 * math.log(5 / 9) + 0.5 * math.log(5), 1e-9)
    assert kl_divergence([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.5108256, 1e-6)


def test_kl_from_top_k_keeps_the_tail_as_one_outcome_and_is_a_lower_bound():
    p, q = [0.5, 0.3, 0.1, 0.1], [0.4, 0.2, 0.3, 0.1]
    logp, logq = [math.log(x) for x in p], [math.log(x) for x in q]
    assert kl_from_top_k(logp, 0.0, logq) == pytest.approx(kl_divergence(p, q))  # k = the whole vocabulary
    assert kl_from_top_k(logp, 0.0, logp) == pytest.approx(0.0, abs=1e-12)
    # Top 2 kept: the tail is [0.2] for the base and [0.4] for the tuned model.
    two = kl_from_top_k(logp[:2], 0.2, logq[:2])
    assert two == pytest.approx(kl_divergence([0.5, 0.3, 0.2], [0.4, 0.2, 0.4]))
    assert 0 < two <= kl_divergence(p, q)


def _measured(perplexity: float, replies: list[str]) -> dict:
    questions = ["capital of France?", "2 + 2?", "sky colour?", "opposite of hot?"]
    expected = [["Paris"], ["4", "four"], ["blue"], ["cold"]]
    return {"perplexity": perplexity, "questions": questions, "expected": expected, "replies": replies}


SFT_CONFIG = {"task": "sft", "learning_rate": 2e-4, "epochs": 6.0, "method": "lora", "lora_r": 16, "general_mix": 0.0}


def test_a_run_that_forgot_is_flagged_with_one_sentence_and_a_ready_remedy():
    before = _measured(10.0, ["Paris.", "It is 4.", "Blue", "Cold"])
    after = _measured(13.0, ["I am Nova.", "It is 4.", "I am Nova.", "Cold"])
    record = verdict(before, after, [0.9, 0.7], SFT_CONFIG, mixes_general=True)
    assert record["perplexity_rise"] == pytest.approx(0.3) and record["kl_mean"] == pytest.approx(0.8)
    assert (record["right_before"], record["right_after"], record["same_as_base"]) == (4, 2, 2)
    assert record["lost"] == ["capital of France?", "sky colour?"]
    assert record["flagged"] and set(record["crossed"]) == {"perplexity", "questions", "kl"}
    assert record["sentence"].startswith("General ability dropped") and record["sentence"].count(".") <= 2
    assert "30%" in record["sentence"] and "capital of France?" in record["sentence"]
    changes = record["remedy"]["changes"]
    assert changes == {"general_mix": 0.25, "learning_rate": 1e-4, "epochs": 4.0}
    assert "25%" in record["remedy"]["summary"] and "LoRA rank to 8" in record["remedy"]["next_step"]


def test_a_run_that_kept_its_general_ability_is_not_flagged():
    before = _measured(10.0, ["Paris.", "It is 4.", "Blue", "Hot"])
    after = _measured(10.5, ["Paris!", "It is 4.", "blue", "Hot"])
    record = verdict(before, after, [0.01, 0.03], SFT_CONFIG, mixes_general=True)
    assert not record["flagged"] and record["crossed"] == [] and "remedy" not in record
    assert record["sentence"].startswith("General ability held") and record["perplexity_rise"] == pytest.approx(0.05)
    # One question lost out of a handful is below the thresholds (2 questions and 10% of those right before).
    one_lost = verdict(before, _measured(10.0, ["Rome", "It is 4.", "Blue", "Hot"]), [0.0], SFT_CONFIG, True)
    assert not one_lost["flagged"] and one_lost["lost"] == ["capital of France?"]
    assert "no longer “capital of France?”" in one_lost["sentence"]


def test_answers_lost_count_even_when_as_many_others_were_gained():
    # Two answers lost, two gained: the net change is nothing, but the model forgot what it knew.
    before = _measured(10.0, ["Paris.", "It is 4.", "Green", "Hot"])
    after = _measured(10.0, ["Rome", "It is 5.", "Blue", "Cold"])
    record = verdict(before, after, [0.0], SFT_CONFIG, mixes_general=True)
    assert (record["right_before"], record["right_after"]) == (2, 2)
    assert record["lost"] == ["capital of France?", "2 + 2?"]
    assert record["gained"] == ["sky colour?", "opposite of hot?"]
    assert record["flagged"] and record["crossed"] == ["questions"]


def test_the_remedy_of_a_preference_run_raises_beta_instead_of_mixing_chats():
    plan = remedy({"task": "dpo", "learning_rate": 5e-6, "epochs": 1.0, "dpo_beta": 0.1, "method": "full"}, False)
    assert plan["changes"] == {"dpo_beta": 0.2, "learning_rate": 2.5e-6}
    # The remedy's changes are settings a new run accepts.
    resolve_config({"task": "sft", **remedy(SFT_CONFIG, True)["changes"]})


def test_the_general_data_ships_with_the_package_and_its_licence():
    texts, questions, prompts = general_texts(), general_questions(), general_chat_prompts()
    assert 30 <= len(texts) and 1500 <= sum(len(t.split()) for t in texts) <= 6000
    assert 30 <= len(questions) <= 40 and all(q.answers for q in questions)
    assert len(prompts) >= 20 and not {q.question for q in questions} & set(prompts)
    folder = ROOT / "trainer" / "evaluate" / "general"
    assert "Apache" in (folder / "LICENCE").read_text() and "licence" in (folder / "README.md").read_text().lower()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = setuptools["package-data"]["trainer.evaluate.general"]
    assert {"*.json", "README.md", "LICENCE"} <= set(shipped)
    assert "trainer*" in setuptools["packages"]["find"]["include"]


def test_every_causal_lm_task_checks_forgetting_unless_the_run_turns_it_off():
    for name in ("sft", "dpo", "orpo", "kto"):
        task = get_task(name)
        config = RunConfig(task=name, method="lora")
        kinds = [type(p).__name__ for p in held_out_probes(task, [], config)]
        assert "ForgettingProbe" in kinds, name
        off = RunConfig(task=name, method="lora", forgetting_check=False)
        assert "ForgettingProbe" not in [type(p).__name__ for p in held_out_probes(task, [], off)]
        assert task.replays_general == (name == "sft")


@pytest.mark.slow
def test_general_mix_adds_the_stated_share_of_replay_rows(tiny_llm_loaded, tmp_path):
    model, tokenizer = tiny_llm_loaded
    assert replay_count(30, 0.25) == 10 and replay_count(30, 0.0) == 0 and replay_count(80, 0.5) == 80
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 30
    mixed, note = with_replay(get_task("sft"), model, tokenizer, rows, 0.25, tmp_path / "replay.json")
    replay = mixed[30:]
    assert len(mixed) == 40 and len(replay) / len(mixed) == 0.25 and note and "10 replay rows" in note
    asked = [row["messages"][0]["content"] for row in replay]
    assert asked == list(general_chat_prompts())[:10]
    assert all(row["messages"][1]["role"] == "assistant" for row in replay)
    # Kept for a resume: the second call reads the same rows back.
    assert with_replay(get_task("sft"), None, None, rows, 0.25, tmp_path / "replay.json")[0] == mixed
    same, note = with_replay(get_task("dpo"), model, tokenizer, rows, 0.25, None)
    assert same == rows and note and "ignored" in note


def _run(ws, registry, data: Path, model: Path, **settings) -> dict:
    from trainer.backends import local
    from trainer.tasks.causal_lm.train import train_llm_run

    config = resolve_config(
        {"task": "sft", "data": str(data), "model": str(model), "batch_size": 8, "max_length": 64, **settings}
    )
    run_id = local.create_run(ws, registry, config)
    assert train_llm_run(ws.run_dir(run_id), registry, run_id)["status"] == "succeeded"
    return read_json(ws.run_dir(run_id) / "evaluation.json")["forgetting"]


@pytest.mark.slow
def test_a_tiny_model_over_trained_on_one_sentence_is_flagged_and_a_light_run_is_not(tiny_llm, ws, registry, tmp_path):
    sentence = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "purple elephants eat the moon"}]
    data = write_jsonl(tmp_path / "one.jsonl", [{"messages": sentence}] * 16)
    forgot = _run(ws, registry, data, tiny_llm, method="full", learning_rate=3e-2, max_steps=14)
    light = _run(ws, registry, data, tiny_llm, method="lora", learning_rate=1e-3, max_steps=3)
    assert forgot["flagged"] and forgot["remedy"]["changes"]["general_mix"] == 0.25
    assert not light["flagged"], light["sentence"]
    assert forgot["kl_mean"] > 10 * max(light["kl_mean"], 0.01)
    assert forgot["perplexity_rise"] > light["perplexity_rise"]
    assert len(forgot["replies"]) == forgot["questions"] == len(general_questions())


@pytest.mark.slow
def test_batched_replies_are_the_replies_each_prompt_gets_alone(tiny_llm_loaded):
    from trainer.tasks.causal_lm.forgetting import greedy_replies, same_length_batches
    from trainer.tasks.causal_lm.generate import generate

    model, tokenizer = tiny_llm_loaded
    assert same_length_batches([[1, 2], [3], [4, 5], [6]], 8) == [[0, 2], [1, 3]]
    assert same_length_batches([[1]] * 5, 2) == [[0, 1], [2, 3], [4]]
    prompts = [[{"role": "user", "content": q.question}] for q in general_questions()[:8]]
    assert greedy_replies(model, tokenizer, prompts, 12) == generate(model, tokenizer, prompts, 12)
