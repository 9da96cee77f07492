"""Per-example changes between two runs tested on the same examples: the test examples that flipped from wrong to
right and back (classifiers), whose error shrank or grew most (regression), or whose held-out answer came closer to
or went further from the reference (language models).

Classifier and regression runs write runs/run-N/predictions.jsonl, one line per test example in test-split order;
language-model runs keep "held_out_answers" in evaluation.json. Examples are compared only when both runs saw the
same ones (the same inputs in the same order, or the same set of distinct inputs); otherwise the result says so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.core.fileio import read_json, read_jsonl

# Examples listed per direction: enough to read, few enough for a chat reply and an LLM's context.
LISTED = 20
PREDICTIONS = "predictions.jsonl"


def example_changes(before: Path, after: Path, before_id: int, after_id: int) -> dict[str, Any]:
    """What changed example by example from run `before_id` (folder `before`) to run `after_id`.

    Returns {"kind": "classification" | "regression" | "answers" | None, "comparable": bool, "note": sentence or
    None, ...}: flips as "fixed" / "broken" (with exact counts), or "improved" / "worsened" for numbers and answers.
    """
    rows = [_predictions(before), _predictions(after)]
    if rows[0] or rows[1]:
        missing = [run_id for run_id, found in zip((before_id, after_id), rows, strict=True) if not found]
        if missing:
            return _nothing(
                f"Run {missing[0]} wrote no per-example predictions ({PREDICTIONS}), so no flips are shown."
            )
        pairs = _matched(rows[0], rows[1], _input_key)
        if pairs is None:
            return _nothing(_different(before_id, after_id))
        if all("target" in row for row in rows[0] + rows[1]):
            return _regression(pairs)
        return _classification(pairs)
    answers = [_answers(before), _answers(after)]
    if answers[0] and answers[1]:
        pairs = _matched(answers[0], answers[1], _prompt_key)
        if pairs is None:
            return _nothing(_different(before_id, after_id))
        return _answer_changes(pairs)
    return _nothing(
        f"Runs {before_id} and {after_id} kept no per-example results ({PREDICTIONS} or held-out answers), "
        "so only their totals can be compared."
    )


def _nothing(note: str) -> dict[str, Any]:
    return {"kind": None, "comparable": False, "note": note}


def _different(before_id: int, after_id: int) -> str:
    return (
        f"Runs {before_id} and {after_id} were tested on different examples (their data, split fractions or seed "
        "differ), so their examples cannot be compared one by one."
    )


def _predictions(run_dir: Path) -> list[dict[str, Any]]:
    return [row for row in read_jsonl(run_dir / PREDICTIONS) if isinstance(row, dict)]


def _answers(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "evaluation.json"
    found = read_json(path).get("held_out_answers") if path.is_file() else None
    return [row for row in found or [] if isinstance(row, dict) and "tuned" in row]


def _input_key(row: dict[str, Any]) -> tuple[str, ...]:
    """What makes two lines the same test example: its input (and second text), and its true label or value."""
    truth = row["target"] if "target" in row else row.get("label")
    return (str(row.get("input")), str(row.get("input_pair", "")), str(truth))


def _prompt_key(row: dict[str, Any]) -> tuple[str, ...]:
    return (str(row.get("messages") or row.get("prompt")), str(row.get("reference")))


def _matched(before: list[dict[str, Any]], after: list[dict[str, Any]], key: Any) -> list[tuple[dict, dict]] | None:
    """The two runs' lines paired example by example: in order when the sequences of examples agree, else by
    example when both hold the same distinct examples; None when they were tested on different examples."""
    keys = [[key(row) for row in before], [key(row) for row in after]]
    if keys[0] == keys[1]:
        return list(zip(before, after, strict=True))
    counts = [Counter(found) for found in keys]
    if counts[0] != counts[1] or any(n > 1 for n in counts[0].values()):
        return None
    by_key = {key(row): row for row in after}
    return [(row, by_key[key(row)]) for row in before]


def _correct(row: dict[str, Any]) -> bool:
    if isinstance(row.get("correct"), bool):
        return bool(row["correct"])
    return str(row.get("predicted")) == str(row.get("label"))


def _classification(pairs: list[tuple[dict, dict]]) -> dict[str, Any]:
    def item(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        shown = {
            "input": before.get("input"),
            "label": before.get("label"),
            "before": before.get("predicted"),
            "after": after.get("predicted"),
            "before_confidence": before.get("confidence"),
            "after_confidence": after.get("confidence"),
        }
        if before.get("input_pair") is not None:
            shown["input_pair"] = before["input_pair"]
        return shown

    fixed = [item(a, b) for a, b in pairs if not _correct(a) and _correct(b)]
    broken = [item(a, b) for a, b in pairs if _correct(a) and not _correct(b)]
    return {
        "kind": "classification",
        "comparable": True,
        "note": None,
        "examples": len(pairs),
        "fixed_count": len(fixed),
        "broken_count": len(broken),
        "both_right": sum(_correct(a) and _correct(b) for a, b in pairs),
        "both_wrong": sum(not _correct(a) and not _correct(b) for a, b in pairs),
        "fixed": fixed[:LISTED],
        "broken": broken[:LISTED],
    }


def _error(row: dict[str, Any]) -> float:
    if isinstance(row.get("error"), int | float):
        return float(row["error"])
    return float(row["predicted"]) - float(row["target"])


def _regression(pairs: list[tuple[dict, dict]]) -> dict[str, Any]:
    changes: list[dict[str, Any]] = []
    for before, after in pairs:
        old, new = _error(before), _error(after)
        changes.append(
            {
                "input": before.get("input"),
                "target": before.get("target"),
                "before": before.get("predicted"),
                "after": after.get("predicted"),
                "before_error": old,
                "after_error": new,
                "change": abs(new) - abs(old),
            }
        )
    improved = sorted((c for c in changes if c["change"] < 0), key=lambda c: c["change"])
    worsened = sorted((c for c in changes if c["change"] > 0), key=lambda c: -c["change"])
    return {
        "kind": "regression",
        "comparable": True,
        "note": None,
        "examples": len(pairs),
        "improved_count": len(improved),
        "worsened_count": len(worsened),
        "before_mae": _mean([abs(c["before_error"]) for c in changes]),
        "after_mae": _mean([abs(c["after_error"]) for c in changes]),
        "improved": improved[:LISTED],
        "worsened": worsened[:LISTED],
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(answer: str, reference: str) -> float:
    """Overlap of words between an answer and its reference (SQuAD's token F1): 1 when they hold the same words."""
    said, wanted = Counter(_words(answer)), Counter(_words(reference))
    common = sum((said & wanted).values())
    if not said or not wanted:
        return float(said == wanted)
    if common == 0:
        return 0.0
    precision, recall = common / sum(said.values()), common / sum(wanted.values())
    return 2 * precision * recall / (precision + recall)


def _answer_changes(pairs: list[tuple[dict, dict]]) -> dict[str, Any]:
    changes: list[dict[str, Any]] = []
    for before, after in pairs:
        reference = str(before.get("reference") or "")
        old, new = str(before.get("tuned") or ""), str(after.get("tuned") or "")
        changes.append(
            {
                "input": before.get("prompt"),
                "reference": reference,
                "before": old,
                "after": new,
                "before_exact": _words(old) == _words(reference),
                "after_exact": _words(new) == _words(reference),
                "change": token_f1(new, reference) - token_f1(old, reference),
            }
        )
    return {
        "kind": "answers",
        "comparable": True,
        "note": None,
        "examples": len(pairs),
        # Exact matches gained and lost: the language-model form of a flip.
        "fixed_count": sum(c["after_exact"] and not c["before_exact"] for c in changes),
        "broken_count": sum(c["before_exact"] and not c["after_exact"] for c in changes),
        "improved_count": sum(c["change"] > 0 for c in changes),
        "worsened_count": sum(c["change"] < 0 for c in changes),
        "improved": sorted((c for c in changes if c["change"] > 0), key=lambda c: -c["change"])[:LISTED],
        "worsened": sorted((c for c in changes if c["change"] < 0), key=lambda c: c["change"])[:LISTED],
    }
