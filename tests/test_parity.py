"""The parity comparison itself: which differences it catches and what it blames (forms stand in as tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trainer.export.parity import ChatAnswer, Messages, compare_chat, compare_scores


class TableChat:
    """A form whose template and answers are given by tables keyed by the prompt."""

    def __init__(self, label: str, answers: dict[str, ChatAnswer], template: str = "<|user|>{}<|assistant|>"):
        self.label, self.answers, self.template = label, answers, template

    def render(self, messages: Messages) -> str | None:
        return self.template.format(messages[-1]["content"])

    def answer(self, messages: Messages, max_tokens: int) -> ChatAnswer:
        return self.answers[messages[-1]["content"]]


class TableScores:
    def __init__(self, label: str, table: dict[str, dict[str, float]]):
        self.label, self.table = label, table

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        return [self.table[item] for item in inputs]


PROMPTS = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "who are you"}]]
TRAINED = {
    "hi": ChatAnswer("Hello!", "stop", (5, 6)),
    "who are you": ChatAnswer("I am Tuna.", "stop", (7, 8, 9)),
}


def test_identical_forms_agree() -> None:
    report = compare_chat(TableChat("trained", TRAINED), TableChat("merged", dict(TRAINED)), PROMPTS)
    assert report.ok and report.agreed == 2 and report.cause is None
    assert report.to_dict()["parity_ok"] is True


def test_a_different_template_is_blamed_on_the_template() -> None:
    exported = TableChat("merged", dict(TRAINED), template="### User: {}\n### Assistant:")
    report = compare_chat(TableChat("trained", TRAINED), exported, PROMPTS)
    assert not report.ok and report.cause == "template"
    assert report.first_mismatch is not None and report.first_mismatch["input"] == "hi"
    assert "chat template" in (report.fix or "")


def test_an_export_that_runs_past_the_end_of_turn_is_blamed_on_the_stop_token() -> None:
    rambling = dict(TRAINED)
    rambling["who are you"] = ChatAnswer("I am Tuna.<|im_end|>I am", "length", (7, 8, 9, 2, 7, 8))
    report = compare_chat(TableChat("trained", TRAINED), TableChat("gguf", rambling), PROMPTS)
    assert not report.ok and report.cause == "stop token" and report.agreed == 1
    assert report.first_mismatch is not None and report.first_mismatch["exported_finish"] == "length"


def test_a_quantised_export_may_drift_within_its_tolerance_and_says_so() -> None:
    drifted = dict(TRAINED)
    drifted["who are you"] = ChatAnswer("I am Tun.", "stop", (7, 8, 10))
    quantised = compare_chat(TableChat("trained", TRAINED), TableChat("q4", drifted), PROMPTS, quantised_tolerance=0.6)
    assert quantised.ok and quantised.agreed == 1 and "quantised" in (quantised.tolerance or "")
    strict = compare_chat(TableChat("trained", TRAINED), TableChat("q4", drifted), PROMPTS, quantised_tolerance=0.95)
    assert not strict.ok and strict.cause == "quantisation"


def test_classifier_scores_within_tolerance_agree_and_a_swapped_label_map_does_not() -> None:
    trained = TableScores("trained", {"a": {"spam": 0.9, "ham": 0.1}, "b": {"spam": 0.2, "ham": 0.8}})
    close = TableScores("onnx", {"a": {"spam": 0.90001, "ham": 0.09999}, "b": {"spam": 0.2, "ham": 0.8}})
    assert compare_scores(trained, close, ["a", "b"], tolerance=1e-3).ok
    swapped = TableScores("onnx", {"a": {"spam": 0.1, "ham": 0.9}, "b": {"spam": 0.8, "ham": 0.2}})
    report = compare_scores(trained, swapped, ["a", "b"])
    assert not report.ok and report.cause == "labels" and report.agreed == 0
