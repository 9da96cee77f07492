"""A field's value with its structure, and what it means: a message list, a true/false, a number.

Shared by shape detection (trainer.data.shapes), conversion (trainer.data.convert), prepare and inspection.
"""

from __future__ import annotations

import json
import math
from typing import Any

from trainer.data.json_text import loads
from trainer.data.table import Table

TRUE_WORDS = {"true", "1", "yes", "y", "t", "good", "desirable", "1.0"}
FALSE_WORDS = {"false", "0", "no", "n", "f", "bad", "undesirable", "0.0"}
# Labels that mean "missing" in exported spreadsheets and dataframes.
NAN_LABELS = {"nan", "none", "null", "n/a", "na", "undefined", "#n/a", "-"}


def record_value(table: Table, index: int, column: str) -> Any:
    """A field with its structure: parsed JSON for JSON sources, JSON-looking CSV cells parsed too."""
    if table.records is not None:
        value = table.records[index].get(column)
    else:
        value = table.rows[index].get(column)
    if isinstance(value, str) and value[:1] in ("[", "{") and value.rstrip()[-1:] in ("]", "}"):
        try:
            return loads(value)
        except json.JSONDecodeError:
            return value
    return value


def is_messages(value: Any) -> bool:
    """A non-empty list of {role, ...} messages (OpenAI's chat form)."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def is_sharegpt(value: Any) -> bool:
    """A non-empty list of {from, value} turns (ShareGPT's form)."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "from" in m for m in value)


def as_bool(value: Any) -> bool | None:
    """True or False for the ways people write them (yes, 1, "good", ...); None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def as_number(value: Any) -> float | None:
    """A finite number (from a number or a numeric string); None for anything else, NaN, infinities (and integers
    too large for a float) and booleans included: none of them is a target."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
