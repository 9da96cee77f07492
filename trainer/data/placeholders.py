"""Placeholders like `{{name}}` and `{{author}}` in chat data, and the values that fill them.

Data sets such as LLaMA-Factory's identity.json ship answers with `{{name}}` and `{{author}}` for the user to
fill. The upload is never rewritten: inspection counts the placeholders, the plan records values for them
(RunConfig.placeholders) and training (or a hosted upload) fills them in the records it loads. A run whose data
still has a placeholder without a value is refused with one sentence naming it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from trainer.core.errors import UserError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")
# The keys of a record whose messages are filled: chats, preference pairs and KTO examples.
MESSAGE_KEYS = ("messages", "prompt", "chosen", "rejected", "completion")
# Placeholders that mean the data teaches who the assistant is (its name, its maker).
IDENTITY_NAMES = frozenset(
    {"name", "author", "assistant", "assistant_name", "bot_name", "model_name", "company", "creator", "organization"}
)
EXAMPLE_VALUES = {"name": "Nova", "author": "Acme"}


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a message list (text contents and text parts)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key in ("content", "text"):
            if key in value:
                yield from _strings(value[key])


def record_placeholders(record: Mapping[str, Any]) -> set[str]:
    """The placeholder names in one converted record's messages."""
    found: set[str] = set()
    for key in MESSAGE_KEYS:
        for text in _strings(record.get(key)):
            found.update(PLACEHOLDER.findall(text))
    return found


def count_placeholders(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """{placeholder name: number of records holding it}, most frequent first."""
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(record_placeholders(record))
    return dict(counts.most_common())


def braces(name: str) -> str:
    return "{{" + name + "}}"


def names_text(names: Iterable[str]) -> str:
    """ "{{name}} and {{author}}", "{{a}}, {{b}} and {{c}}"."""
    shown = [braces(n) for n in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def example_values(names: Iterable[str]) -> str:
    """How a user gives values, e.g. "name Nova, author Acme"."""
    return ", ".join(f"{n} {EXAMPLE_VALUES.get(n, 'VALUE')}" for n in names)


def question(counts: Mapping[str, int]) -> str:
    """The one short question the chat asks when placeholders have no values yet."""
    names = list(counts)
    held = [f"{braces(name)} ({count} rows)" for name, count in counts.items()]
    listed = held[0] if len(held) == 1 else ", ".join(held[:-1]) + " and " + held[-1]
    return (
        f"The data holds {listed}: what should {'it' if len(names) == 1 else 'they'} be? "
        f"Say e.g. '{example_values(names)}'."
    )


def unfilled_sentence(missing: Iterable[str]) -> str:
    names = list(missing)
    return (
        f"The data still has {names_text(names)} without a value, so training would teach the braces; give "
        f"{'it a value' if len(names) == 1 else 'them values'} (say e.g. '{example_values(names)}', or set "
        "placeholders in the plan) and start again."
    )


def clean_values(values: Mapping[str, Any] | None) -> dict[str, str]:
    """Values keyed by bare names ("{{name}}" and " name " both mean name), empty values left out."""
    cleaned: dict[str, str] = {}
    for key, value in (values or {}).items():
        name = str(key).strip().strip("{}").strip()
        text = "" if value is None else str(value).strip()
        if name and text:
            cleaned[name] = text
    return cleaned


def missing_values(counts: Mapping[str, int], values: Mapping[str, Any] | None) -> list[str]:
    given = clean_values(values)
    return [name for name in counts if name not in given]


def fill_text(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return fill_text(value, values)
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) if k in ("content", "text") else v for k, v in value.items()}
    return value


def fill_records(records: list[dict[str, Any]], values: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Copies of the records with every placeholder filled; UserError naming those left without a value."""
    counts = count_placeholders(records)
    if not counts:
        return records
    given = clean_values(values)
    missing = [name for name in counts if name not in given]
    if missing:
        raise UserError(unfilled_sentence(missing))
    return [{k: _fill(v, given) if k in MESSAGE_KEYS else v for k, v in r.items()} for r in records]


def teaches_identity(names: Iterable[str]) -> bool:
    """True when the placeholders say who the assistant is (a name, an author or maker)."""
    return any(name.lower() in IDENTITY_NAMES for name in names)
