"""What inspection finds wrong with labelled texts for a classifier, each problem with its lines and fix."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from trainer.data.examples import Examples
from trainer.data.splits import split_sizes
from trainer.data.table import Table
from trainer.data.values import NAN_LABELS
from trainer.inspection.problems import PROBLEM_LINES, lines_text, overlap_problem, pii_problem, problem

RARE_BELOW = 5
IMBALANCE_ABOVE = 5.0


def duplicates(examples: Examples) -> tuple[list[int], list[dict[str, Any]]]:
    """Lines whose text repeats an earlier row, and the texts that carry more than one label."""
    seen: set[str] = set()
    repeats: list[int] = []
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for text, label, line in zip(examples.texts, examples.labels, examples.lines, strict=True):
        if text in seen:
            repeats.append(line)
        seen.add(text)
        groups[text].append((line, label))
    conflicts: list[dict[str, Any]] = []
    for text, members in groups.items():
        distinct = sorted({label for _, label in members})
        if len(distinct) > 1:
            conflicts.append({"text": text, "labels": distinct, "lines": [line for line, _ in members]})
    conflicts.sort(key=lambda group: min(group["lines"]))
    return repeats, conflicts


def _min_splittable(val_fraction: float, test_fraction: float) -> int:
    """Fewest examples a class needs to appear in every split that has a nonzero share."""
    for count in range(1, 10_000):
        _, n_val, n_test = split_sizes(count, val_fraction, test_fraction)
        if (n_val or not val_fraction) and (n_test or not test_fraction):
            return count
    return 10_000


def classification_problems(
    repaired: list[int],
    bad_lines: list[int],
    examples: Examples,
    duplicates: list[int],
    conflicts: list[dict[str, Any]],
    ordered: list[tuple[str, int]],
    label_column: str,
    val_fraction: float,
    test_fraction: float,
) -> list[dict[str, Any]]:
    """What to fix in labelled texts: empty, unreadable and ragged lines, duplicates, conflicts, rare classes
    and class imbalance."""
    problems: list[dict[str, Any]] = []

    def add(code: str, count: int, lines: list[int], message: str) -> None:
        problems.append({"code": code, "count": count, "rows": lines[:PROBLEM_LINES], "message": message})

    if examples.empty_lines:
        n = len(examples.empty_lines)
        add(
            "empty_rows",
            n,
            examples.empty_lines,
            f"{n} row{'s have' if n > 1 else ' has'} an empty text or label ({lines_text(examples.empty_lines)}) "
            "and will be left out of training; fill them in or delete them.",
        )
    if bad_lines:
        n = len(bad_lines)
        add(
            "bad_lines",
            n,
            bad_lines,
            f"{n} line{'s' if n > 1 else ''} could not be read and {'were' if n > 1 else 'was'} skipped "
            f"({lines_text(bad_lines)}); fix the field count or quoting there to include {'them' if n > 1 else 'it'}.",
        )
    if repaired:
        n = len(repaired)
        add(
            "extra_fields",
            n,
            repaired,
            f"{n} line{'s have' if n > 1 else ' has'} more fields than the header ({lines_text(repaired)}), so the "
            "extra separators were kept inside the text; quote those texts if that is wrong.",
        )
    if duplicates:
        n = len(duplicates)
        add(
            "duplicates",
            n,
            duplicates,
            f"{n} row{'s repeat' if n > 1 else ' repeats'} the text of an earlier row ({lines_text(duplicates)}); "
            "remove the copies so the same text cannot be both trained on and tested.",
        )
    if conflicts:
        n = len(conflicts)
        lines = sorted(line for group in conflicts for line in group["lines"])
        first = conflicts[0]
        add(
            "conflicting_duplicates",
            n,
            lines,
            f"{n} text{'s appear' if n > 1 else ' appears'} with different labels (e.g. "
            f"{' and '.join(repr(x) for x in first['labels'])} at {lines_text(first['lines'])}); "
            "keep one correct label for each and delete the others.",
        )

    needed = max(RARE_BELOW, _min_splittable(val_fraction, test_fraction))
    rare = [(label, count) for label, count in ordered if count < needed]
    if rare:
        rare_names = {label for label, _ in rare}
        lines = [line for line, label in zip(examples.lines, examples.labels, strict=True) if label in rare_names]
        listed = ", ".join(f"'{label}' ({count})" for label, count in rare[:PROBLEM_LINES])
        add(
            "rare_label",
            len(rare),
            lines,
            f"{'Class' if len(rare) == 1 else 'Classes'} {listed} in '{label_column}' "
            f"{'has' if len(rare) == 1 else 'have'} too few examples to learn and to appear in the training, "
            f"validation and test splits; add at least {needed} examples of each or remove "
            f"{'it' if len(rare) == 1 else 'them'}.",
        )

    (big, big_count), (small, small_count) = ordered[0], ordered[-1]
    if big_count / small_count > IMBALANCE_ABOVE:
        minority = [label for label, count in ordered if count * IMBALANCE_ABOVE < big_count]
        add(
            "class_imbalance",
            len(minority),
            [],
            f"The largest class '{big}' ({big_count}) has {big_count / small_count:.1f} times the examples of the "
            f"smallest '{small}' ({small_count}); add examples of the small classes if you can, and judge the model "
            "by macro-F1 rather than accuracy.",
        )
    return problems


def content_problems(
    table: Table,
    examples: Examples,
    length_tokens: dict[str, Any] | None,
    max_length: int,
    text_column: str,
    label_column: str,
) -> list[dict[str, Any]]:
    """Problems beyond the classification basics: NaN labels, personal data, held-out overlap, too long."""
    problems: list[dict[str, Any]] = []
    nan_lines = [
        line for label, line in zip(examples.labels, examples.lines, strict=True) if label.lower() in NAN_LABELS
    ]
    if nan_lines:
        n = len(nan_lines)
        problems.append(
            problem(
                "nan_labels",
                nan_lines,
                f"{n} row{'s have' if n > 1 else ' has'} a missing-value marker as the '{label_column}' label "
                f"(NaN, null, None; {lines_text(nan_lines)}); give them a real label or delete them.",
            )
        )
    found = pii_problem(list(zip(examples.lines, examples.texts, strict=True)))
    if found:
        problems.append(found)
    overlap = overlap_problem(table, lambda t, i: (t.rows[i].get(text_column) or "").strip() or None)
    if overlap:
        problems.append(overlap)
    over = (length_tokens or {}).get(f"truncated_at_{max_length}")
    if over:
        problems.append(
            problem(
                "too_long",
                [],
                f"About {over} text{'s are' if over != 1 else ' is'} longer than {max_length} tokens and would be "
                "cut off; raise max_length if the end of the text matters.",
                count=over,
            )
        )
    return problems
