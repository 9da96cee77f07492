"""Language-model runs against their base model on held-out examples: an SFT run's evaluation.json (base and tuned
figures, the answers side by side), and how often greedy answers are closer to the chosen answer than to the
rejected one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from run_records import train_llm_here
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
    return train_llm_here(settings)


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


def test_closer_to_chosen_by_hand() -> None:
    from trainer.evaluate.text_metrics import rouge_l
    from trainer.tasks.causal_lm.closeness_eval import closer_share

    answers = ["the sky is blue", "i do not know", "blue"]
    chosen = [["the sky is blue"], ["grass is green"], ["the sky is blue"]]
    rejected = [["the moon is cheese"], ["i do not know"], ["no idea"]]
    # 1: ROUGE-L 1 against chosen, 1/2 against rejected ("the ... is": 2 of 4 words each way): closer.
    # 2: 0 against chosen, 1 against rejected: not closer. 3: "blue" against "the sky is blue": P 1, R 1/4,
    # F1 0.4, against "no idea" 0: closer. Two of three.
    assert rouge_l("the sky is blue", "the moon is cheese") == pytest.approx(0.5)
    assert rouge_l("blue", "the sky is blue") == pytest.approx(0.4)
    assert closer_share(answers, chosen, rejected) == {"closer_to_chosen": 0.6667, "ties": 0.0, "prompts": 3}


class _WordTokenizer:
    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
        return {"input_ids": text.split()}


def test_preference_probe_compares_answers_before_and_after(tmp_path, monkeypatch) -> None:
    from trainer.tasks.causal_lm import generate as generation
    from trainer.tasks.causal_lm.closeness_eval import label_probe, pair_probe

    rows = [
        {
            "prompt": [{"role": "user", "content": question}],
            "chosen": [{"role": "assistant", "content": answer}],
            "rejected": [{"role": "assistant", "content": "i do not know"}],
        }
        for question, answer in FACTS[:4]
    ]
    trained = {"done": False}

    def fake_generate(
        model: Any, tokenizer: Any, prompts: list, max_new_tokens: int = 24, batch_size: int = 1
    ) -> list[str]:
        assert max_new_tokens == 5 * 5 // 4 + 4  # the longest answer ("a cat has four legs") and a quarter more
        answers = [dict(FACTS)[prompt[-1]["content"]] for prompt in prompts]
        # Before training it knows no fact; after it knows all but the last one.
        return [a if trained["done"] and i < 3 else "i do not know" for i, a in enumerate(answers)]

    monkeypatch.setattr(generation, "generate", fake_generate)
    probe = pair_probe(rows)
    assert probe is not None
    probe.start(None, _WordTokenizer(), tmp_path / probe.reference_file)
    trained["done"] = True
    figures = probe.finish(None, _WordTokenizer())
    assert figures["closer_to_chosen_before"] == 0.0 and figures["closer_to_chosen"] == 0.75
    closeness = figures["closeness"]
    assert closeness["measurable"] and closeness["after"]["prompts"] == 4
    assert closeness["answers"][0] == {
        "prompt": FACTS[0][0],
        "chosen": FACTS[0][1],
        "rejected": "i do not know",
        "base": "i do not know",
        "tuned": FACTS[0][1],
    }

    # KTO: only prompts with both a desirable and an undesirable held-out answer count; none here.
    kto = [
        {"prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": a}], "label": True}
        for q, a in FACTS[:3]
    ]
    only_good = label_probe(kto)
    assert only_good is not None and only_good.items == []
    only_good.start(None, _WordTokenizer(), tmp_path / "kto.json")
    unmeasurable = only_good.finish(None, _WordTokenizer())["closeness"]
    assert unmeasurable["measurable"] is False and "not measurable" in unmeasurable["reason"]
    both = kto + [{**kto[0], "completion": [{"role": "assistant", "content": "no idea"}], "label": False}]
    assert [(good, bad) for _, good, bad in label_probe(both).items] == [([FACTS[0][1]], ["no idea"])]


def _nasty_sft_evaluation() -> dict[str, Any]:
    from test_trust_markdown import BOLD, HTML, IMAGE, PIPE_TICK

    long = "word " * 60
    answers = [
        {"prompt": f"{IMAGE} q{i}", "messages": [], "reference": f"{BOLD} {PIPE_TICK}", "base": HTML, "tuned": long}
        for i in range(7)
    ]
    return {
        "run_id": 5,
        "task": "sft",
        "method": "lora",
        "eval_loss": 1.25,
        "perplexity": 3.49,
        "exact_match": 0.5,
        "token_f1": 0.75,
        "base": {"eval_loss": 2.5, "perplexity": 12.18, "exact_match": 0.0, "token_f1": 0.8},
        "answer_metrics": {"metrics": ["exact_match", "token_f1"], "why": f"`{BOLD}` short", "prompts": 7},
        "held_out_answers": answers,
        "closeness": None,
    }


def test_the_report_shows_base_against_tuned_and_answers_side_by_side_as_text() -> None:
    from test_trust_markdown import assert_inert

    from ui.render import MARKDOWN

    text = MARKDOWN.evaluation(_nasty_sft_evaluation())
    html = assert_inert(text, code_spans=True)
    assert "| validation loss | 2.5 | 1.25 | tuned |" in text and "| token F1 | 0.8 | 0.75 | base |" in text
    assert html.count("<tr>") == 1 + 4 + 1 + 5  # header + 4 figures, header + 5 answers
    assert "2 more answers" in text and "word word…" in text and ("word " * 30) not in text
    closeness = {
        "measurable": True,
        "before": {"closer_to_chosen": 0.25, "prompts": 4},
        "after": {"closer_to_chosen": 0.75, "ties": 0.0, "prompts": 4},
        "answers": [{"prompt": "q", "chosen": "a", "rejected": "b", "base": "b", "tuned": "a"}],
    }
    text = MARKDOWN.evaluation({"task": "dpo", "closeness": closeness, "preference": None})
    assert "25% before training, 75% after" in text
    unmeasurable = MARKDOWN.evaluation({"task": "kto", "closeness": {"measurable": False, "reason": "not measurable"}})
    assert "not measurable" in unmeasurable


@pytest.mark.slow
def test_prompts_answered_in_a_padded_batch_get_the_replies_they_get_alone(tiny_llm_loaded) -> None:
    from trainer.tasks.causal_lm.generate import generate

    model, tokenizer = tiny_llm_loaded
    # Prompts of different lengths, so the batch is padded on the left.
    prompts = [[{"role": "user", "content": question}] for question, _ in FACTS[:5]]
    prompts[1] = [{"role": "system", "content": "answer briefly"}, *prompts[1]]
    alone = generate(model, tokenizer, prompts, max_new_tokens=12)
    assert generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=4) == alone
    assert len(alone) == 5 and all(isinstance(reply, str) for reply in alone)
