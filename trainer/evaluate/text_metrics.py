"""How close generated answers are to reference answers: exact match, token F1, ROUGE-L and chrF, and which of
them suit a set of references.

Every figure is in [0, 1] except chrF, which is on sacrebleu's usual 0-100 scale (how papers and leaderboards
report it). Short answers and labels are judged by exact match (after normalising case, spaces and trailing
punctuation) and token F1; free text by ROUGE-L (longest common word subsequence), chrF (character n-grams, robust
to inflection and to languages without spaces) and token F1.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

EXACT_MATCH, TOKEN_F1, ROUGE_L, CHRF = "exact_match", "token_f1", "rouge_l", "chrf"
SHORT_METRICS = (EXACT_MATCH, TOKEN_F1)
FREE_TEXT_METRICS = (ROUGE_L, CHRF, TOKEN_F1)
# References of at most this many words are short answers (a label, a number, a name).
SHORT_WORDS = 3

_TRAILING = re.compile(r"[\s.!?,;:。！？、…]+$")
# Scripts written without spaces between words (Chinese and Japanese characters, kana): each character is a
# token, as CJK evaluations count them; any other run of letters and digits is one word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")


def normalise(text: str) -> str:
    """Lower case, runs of whitespace as one space, no trailing punctuation: what exact match compares."""
    return _TRAILING.sub("", " ".join(str(text).lower().split()))


def tokens(text: str) -> list[str]:
    """Lower-cased words without punctuation (any script; a Chinese or Japanese character is one word): what
    token F1 and ROUGE-L count, and what makes an answer short."""
    folded = unicodedata.normalize("NFKC", str(text)).lower()
    return _WORD.findall(folded)


def exact_match(prediction: str, reference: str) -> float:
    return 1.0 if normalise(prediction) == normalise(reference) else 0.0


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token F1: the harmonic mean of the shares of predicted and reference words they have in common
    (counted with repeats). Two empty answers agree (1.0); one empty answer shares nothing (0.0)."""
    predicted, expected = tokens(prediction), tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


class _WordTokenizer:
    """rouge-score's tokenizer keeps only ASCII letters and digits; this one keeps words of any script."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_WordTokenizer())


def rouge_l(prediction: str, reference: str, scorer: Any = None) -> float:
    """ROUGE-L F1: from the longest common subsequence of words, its share of the prediction and of the reference."""
    scorer = scorer or _rouge_scorer()
    return float(scorer.score(reference, prediction)["rougeL"].fmeasure)


def chrf(prediction: str, reference: str) -> float:
    """Sentence chrF (character 1- to 6-grams, recall weighted twice as much as precision), 0-100."""
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(prediction, [reference]).score)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _corpus_chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    from sacrebleu.metrics import CHRF

    return round(float(CHRF().corpus_score(list(predictions), [list(references)]).score), 2)


def score_answers(predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str]) -> dict[str, Any]:
    """The named metrics over aligned answers: exact match, token F1 and ROUGE-L averaged over the pairs, chrF
    over the whole set (sacrebleu's corpus chrF, which pools the n-gram counts of every answer)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scores: dict[str, Any] = {}
    pairs = list(zip(predictions, references, strict=True))
    for metric in metrics:
        if metric == EXACT_MATCH:
            scores[metric] = _mean([exact_match(p, r) for p, r in pairs])
        elif metric == TOKEN_F1:
            scores[metric] = _mean([token_f1(p, r) for p, r in pairs])
        elif metric == ROUGE_L:
            scorer = _rouge_scorer()
            scores[metric] = _mean([rouge_l(p, r, scorer) for p, r in pairs])
        elif metric == CHRF:
            scores[metric] = _corpus_chrf(predictions, references) if pairs else None
        else:
            raise ValueError(f"unknown text metric {metric!r}")
    return scores


def choose_metrics(references: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The metrics that suit these reference answers, and why, in one sentence.

    Short answers (most references at most three words) or labels (few distinct answers, each repeated) are
    right or wrong as a whole: exact match and token F1. Anything else is free text, where many wordings are
    right: ROUGE-L, chrF and token F1.
    """
    texts = [str(r) for r in references]
    if not texts:
        return FREE_TEXT_METRICS, "No reference answers, so the free-text metrics are named."
    short = sum(1 for t in texts if len(tokens(t)) <= SHORT_WORDS)
    distinct = len({normalise(t) for t in texts})
    if short * 2 > len(texts):
        return SHORT_METRICS, (
            f"{short} of {len(texts)} reference answers are at most {SHORT_WORDS} words, so answers are judged by "
            "exact match and token F1."
        )
    if len(texts) >= 4 and distinct * 5 <= len(texts):
        return SHORT_METRICS, (
            f"The {len(texts)} reference answers take only {distinct} distinct values (labels), so answers are "
            "judged by exact match and token F1."
        )
    return FREE_TEXT_METRICS, (
        f"The reference answers are free text ({len(texts) - short} of {len(texts)} longer than {SHORT_WORDS} "
        "words), so answers are judged by ROUGE-L, chrF and token F1."
    )


def closeness(answer: str, reference: str, metric: str = ROUGE_L) -> float:
    """How close one answer is to one reference, by ROUGE-L (0-1) or chrF (0-100)."""
    if metric == CHRF:
        return chrf(answer, reference)
    return rouge_l(answer, reference)
