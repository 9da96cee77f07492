"""JSON from a user's file, parsed with a bound on nesting.

Python's parser recurses, so a line of ten thousand '[' raised RecursionError out of the readers, and a
record a little less deep parsed but broke whatever walked it later (the JSON writer, a copy). Every
value read here is at most MAX_DEPTH levels deep; deeper is invalid JSON (json.JSONDecodeError), which
each caller already reports as a bad line or a one-sentence error.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100  # chats with tool schemas nest about ten levels; nothing a model trains on nests a hundred

_DECODER = json.JSONDecoder()


def loads(text: str | bytes) -> Any:
    """json.loads, raising json.JSONDecodeError for a value nested deeper than MAX_DEPTH."""
    as_text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return _decode(as_text, 0, whole=True)[0]


def raw_decode(text: str, pos: int) -> tuple[Any, int]:
    """json.JSONDecoder().raw_decode(text, pos) with the same bound."""
    return _decode(text, pos, whole=False)


def _decode(text: str, pos: int, whole: bool) -> tuple[Any, int]:
    try:
        if whole:
            value, end = json.loads(text), len(text)
        else:
            value, end = _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, pos) from None
    # Fewer brackets than the bound cannot nest past it: only then is the value walked.
    if text.count("[", pos, end) + text.count("{", pos, end) > MAX_DEPTH and too_deep(value):
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, pos)
    return value, end


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when lists and dicts nest deeper than `limit` (walked with a stack, never recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
