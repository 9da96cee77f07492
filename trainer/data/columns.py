"""Which column holds the text and which the label, each choice with a one-line reason."""

from __future__ import annotations

from trainer.core.errors import UserError
from trainer.data.table import Table

TEXT_NAME_HINTS = ("text", "sentence", "message", "sms", "review", "content", "body", "comment", "query", "ticket")
LABEL_NAME_HINTS = ("label", "labels", "class", "category", "target", "sentiment", "liked", "intent", "y")


def _values(table: Table, column: str) -> list[str]:
    return [v.strip() for row in table.rows if (v := row.get(column)) is not None and v.strip()]


def pick_columns(table: Table, text_column: str | None = None, label_column: str | None = None) -> dict[str, str]:
    """Choose the text and label columns, with a one-line reason for each choice."""
    name = table.path.name
    for given in (text_column, label_column):
        if given and given not in table.columns:
            raise UserError(f"There is no column '{given}' in '{name}'; its columns are: {', '.join(table.columns)}.")
    if text_column and text_column == label_column:
        raise UserError(f"'{text_column}' cannot be both the text and the label column of '{name}'; name two columns.")
    stats = {}
    for column in table.columns:
        values = _values(table, column)
        if not values:
            continue
        distinct = len(set(values))
        mean_length = sum(len(v) for v in values) / len(values)
        stats[column] = (distinct, mean_length, len(values))

    reasons = {}
    if not text_column:
        candidates = [c for c in stats if c != label_column and stats[c][1] >= 10 and stats[c][0] > 2]
        if not candidates:
            raise UserError(
                f"'{name}' has no column of free text (columns: {', '.join(table.columns)}); "
                "add one or name it with --text-column."
            )

        def text_score(c: str) -> float:
            distinct, mean_length, count = stats[c]
            # Texts are long and mostly distinct; long category names repeat.
            return mean_length * (1.5 if _hinted(c, TEXT_NAME_HINTS) else 1) * (0.5 + 0.5 * distinct / count)

        text_column = max(candidates, key=text_score)
        reasons["text_reason"] = (
            f"'{text_column}' holds the longest free text (mean {stats[text_column][1]:.0f} characters, "
            f"{stats[text_column][0]} distinct values)."
        )
    else:
        reasons["text_reason"] = f"'{text_column}' was named as the text column."

    if not label_column:
        limit = max(2, min(100, len(table.rows) // 5))
        candidates = [c for c in stats if c != text_column and 2 <= stats[c][0] <= limit]
        single = [c for c in stats if c != text_column and stats[c][0] == 1]
        hinted_single = [c for c in single if _hinted(c, LABEL_NAME_HINTS)]
        # A column named like a label but holding one class is the user's label: say so rather than
        # silently training on some other low-cardinality column.
        if hinted_single and not any(_hinted(c, LABEL_NAME_HINTS) for c in candidates):
            candidates = []
            single = hinted_single
        if not candidates:
            if single:
                only = _values(table, single[0])[0]
                raise UserError(
                    f"The label column '{single[0]}' in '{name}' has a single class ('{only}'); a classifier needs "
                    "at least two classes, so add examples of the other classes."
                )
            raise UserError(
                f"'{name}' has no column that looks like a class label (few distinct values); "
                "add one or name it with --label-column."
            )
        label_column = max(candidates, key=lambda c: (_hinted(c, LABEL_NAME_HINTS), stats[c][2], -stats[c][0]))
        hint = " and its name says label" if _hinted(label_column, LABEL_NAME_HINTS) else ""
        reasons["label_reason"] = f"'{label_column}' has {stats[label_column][0]} distinct values{hint}."
    else:
        reasons["label_reason"] = f"'{label_column}' was named as the label column."
    return {"text_column": text_column, "label_column": label_column, **reasons}


def _hinted(column: str, hints: tuple[str, ...]) -> bool:
    name = column.strip().lower()
    return any(name == h or name.startswith(h + "_") or name.endswith("_" + h) for h in hints)
