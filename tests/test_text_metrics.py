"""Text metrics on hand-made answers whose scores are worked out by hand here, and the choice of metrics."""

from __future__ import annotations

import pytest

from trainer.evaluate.text_metrics import (
    FREE_TEXT_METRICS,
    SHORT_METRICS,
    choose_metrics,
    chrf,
    closeness,
    exact_match,
    normalise,
    rouge_l,
    score_answers,
    token_f1,
)


def test_exact_match_ignores_case_spaces_and_trailing_punctuation_only() -> None:
    assert normalise("  The  Sky is BLUE!! ") == "the sky is blue"
    assert exact_match("the sky is blue.", "The sky   is blue") == 1.0
    assert exact_match("the sky, is blue", "the sky is blue") == 0.0  # inner punctuation counts
    assert exact_match("sky is blue", "the sky is blue") == 0.0


def test_token_f1_by_hand() -> None:
    # prediction "the cat sat", reference "the cat sat on the mat": 3 words in common (the, cat, sat);
    # precision 3/3, recall 3/6, F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    assert token_f1("The cat sat.", "the cat sat on the mat") == pytest.approx(2 / 3)
    # repeats count once per occurrence: "the the" against "the cat": 1 in common, P 1/2, R 1/2, F1 1/2.
    assert token_f1("the the", "the cat") == pytest.approx(0.5)
    assert token_f1("", "") == 1.0 and token_f1("", "cat") == 0.0 and token_f1("dog", "cat") == 0.0


def test_rouge_l_by_hand() -> None:
    # LCS of "the cat on the mat" and "the cat sat on the mat" is 5 words: P 5/5, R 5/6, F1 = 10/11.
    assert rouge_l("the cat on the mat", "the cat sat on the mat") == pytest.approx(10 / 11)
    # Order matters, unlike token F1: "mat the" vs "the mat" share a subsequence of 1 word: P = R = F1 = 1/2.
    assert rouge_l("mat the", "the mat") == pytest.approx(0.5)
    assert token_f1("mat the", "the mat") == 1.0
    # Words of any script count (rouge-score's own tokenizer would drop them all).
    assert rouge_l("Größe über", "größe über alles") == pytest.approx(2 * (1 * 2 / 3) / (1 + 2 / 3))


def test_chrf_by_hand() -> None:
    # hypothesis "ab", reference "abc": 1-grams P 2/2, R 2/3; 2-grams P 1/1, R 1/2; longer n-grams exist in the
    # reference only and are left out (effective order 2). Mean P = 1, mean R = 7/12; with beta 2:
    # chrF = (1 + 4) P R / (4 P + R) = (35/12) / (55/12) = 7/11, on a 0-100 scale.
    assert chrf("ab", "abc") == pytest.approx(700 / 11)
    assert chrf("abc", "abc") == pytest.approx(100.0)
    # The corpus figure of one pair is the sentence figure.
    assert score_answers(["ab"], ["abc"], ["chrf"])["chrf"] == pytest.approx(700 / 11, abs=0.01)


def test_score_answers_averages_over_pairs() -> None:
    scores = score_answers(["Blue.", "green grass"], ["blue", "grass is green"], ["exact_match", "token_f1", "rouge_l"])
    # exact match: 1 and 0 -> 0.5. token F1: 1 and (P 2/2, R 2/3 -> 0.8) -> 0.9.
    # ROUGE-L: 1 and (LCS "green" or "grass" = 1 word: P 1/2, R 1/3 -> 0.4) -> 0.7.
    assert scores == {"exact_match": 0.5, "token_f1": 0.9, "rouge_l": 0.7}
    with pytest.raises(ValueError):
        score_answers(["a"], [], ["exact_match"])


def test_closeness_prefers_the_nearer_reference() -> None:
    answer = "the sky is blue today"
    assert closeness(answer, "the sky is blue") > closeness(answer, "i do not know")
    assert closeness(answer, "the sky is blue", "chrf") > closeness(answer, "i do not know", "chrf")


def test_metrics_are_chosen_from_the_references() -> None:
    short, why = choose_metrics(["Paris", "four", "blue sky", "a long answer with many words in it"])
    assert short == SHORT_METRICS and "3 of 4" in why
    labels, why = choose_metrics(["the review is positive"] * 6 + ["the review is negative"] * 6)
    assert labels == SHORT_METRICS and "2 distinct" in why
    free, why = choose_metrics(
        [f"I am Tuney, an assistant made by Acme, here to help with question {i}." for i in range(8)]
    )
    assert free == FREE_TEXT_METRICS and "free text" in why


def test_chinese_characters_count_one_by_one() -> None:
    # "我是Nova" against "我是Nova助手": tokens 我, 是, nova against 我, 是, nova, 助, 手: P 3/3, R 3/5, F1 = 3/4.
    assert token_f1("我是Nova", "我是Nova助手") == pytest.approx(0.75)
    assert rouge_l("我是Nova", "我是Nova助手") == pytest.approx(0.75)
    # A Chinese sentence is long, although it holds no space.
    metrics, _ = choose_metrics(["我是一个由Acme开发的人工智能助手。"] * 3)
    assert metrics == FREE_TEXT_METRICS
