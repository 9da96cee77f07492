"""Checking one byte range of a chat JSONL file, block by block, with the exact rules of
trainer.inspection.rules.chat_example_errors.

The speed comes from checking blocks of lines with C-level operations (orjson, map, set) instead of
a Python loop per message: a block whose lines are all plain {role, content} conversations ending in
an assistant answer is proven valid in one go; in any other block, the same passes point at the few
lines that need the exact per-line check.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import orjson

from trainer.inspection.rules import chat_example_errors

BLOCK_LINES = 128  # lines proven valid together; small enough that most blocks hold no error
LINES_KEPT = 5  # line numbers kept per problem

_messages = itemgetter("messages")
_role = itemgetter("role")
_content = itemgetter("content")
_last = itemgetter(-1)
_FAST_ROLES = frozenset(("system", "user", "assistant"))


@dataclass
class RangeResult:
    """What one byte range of the file holds; line numbers are relative to the range's first line."""

    lines: int = 0
    blank: int = 0
    valid: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    first_lines: dict[str, list[int]] = field(default_factory=dict)
    hashes: array = field(default_factory=lambda: array("Q"))
    messages_per_example: Counter[int] = field(default_factory=Counter)
    # Measured on this range's sampled lines, in the worker (in parallel).
    pii: Counter[str] = field(default_factory=Counter)
    pii_lines: dict[str, list[int]] = field(default_factory=dict)
    roles: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[int, bytes]] = field(default_factory=list)


try:  # xxh3 (a dependency of `datasets`) hashes ~10x faster than hash() on long lines, the same in every process
    from xxhash import xxh3_64_intdigest as _line_hash
except ImportError:  # pragma: no cover - datasets always brings it

    def _line_hash(line: bytes) -> int:  # type: ignore[misc]
        return hash(line) & 0xFFFFFFFFFFFFFFFF


def _set(values: list[Any]) -> set[Any]:
    """The distinct values, with a marker standing for unhashable ones (a role given as a list)."""
    try:
        return set(values)
    except TypeError:
        return {v if isinstance(v, str | None) else "\x00unhashable" for v in values}


def _map_marking(func: Callable[[Any], Any], items: list[Any], bad: set[int]) -> list[Any]:
    """[func(x) for x in items] at C speed; items whose call fails become None and their index goes to bad.

    list.extend keeps what the map produced before an exception, so its length is the failing index.
    """
    out: list[Any] = []
    position = 0
    while True:
        try:
            out.extend(map(func, items[position:] if position else items))
            return out
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError, AttributeError):
            failed = len(out)
            bad.add(failed)
            out.append(None)
            position = failed + 1


def _exact_errors(line: bytes) -> tuple[list[str], Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson is stricter than json (NaN, huge integers, a BOM); the rules follow json.loads.
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            return ["invalid_json"], None
    return chat_example_errors(value), value


class Scanner:
    """Checks the lines of one byte range, fed in file order, and profiles them into `result`."""

    def __init__(self, sample_every: int) -> None:
        self.result = RangeResult()
        self.sample_every = max(1, sample_every)

    def _record_error(self, codes: list[str], line: int) -> None:
        result = self.result
        for code in codes:
            result.counts[code] += 1
            kept = result.first_lines.setdefault(code, [])
            if len(kept) < LINES_KEPT:
                kept.append(line)

    def _profile_exact(self, value: Any) -> None:
        messages = value.get("messages") if isinstance(value, dict) else None
        if isinstance(messages, list):
            self.result.messages_per_example[len(messages)] += 1

    def _fast(self, lines: list[bytes], parsed: list[Any]) -> set[int]:
        """Prove lines valid with C-level passes over the block; return the indices needing the exact check.

        Each pass runs over the whole block; only when a pass finds something does a short Python
        loop find which lines, so a few bad lines cost little more than a clean block.
        """
        bad: set[int] = set()
        records = parsed or _map_marking(orjson.loads, lines, bad)
        lists = _map_marking(_messages, records, bad)
        types = list(map(type, lists))
        if set(types) != {list}:
            bad.update(i for i, kind in enumerate(types) if kind is not list)
        counts = [len(x) if i not in bad else 0 for i, x in enumerate(lists)] if bad else list(map(len, lists))
        if 0 in counts:
            bad.update(i for i, n in enumerate(counts) if not n)
        if bad:
            lists = [x if i not in bad else [] for i, x in enumerate(lists)]
            counts = [n if i not in bad else 0 for i, n in enumerate(counts)]
        flat = list(chain.from_iterable(lists))
        owners: list[int] = []

        def mark(flat_indices: Iterable[int]) -> None:
            if not owners:
                owners.extend(chain.from_iterable(repeat(i, n) for i, n in enumerate(counts)))
            bad.update(owners[j] for j in flat_indices)

        # Exactly two keys that include role and content: nothing unrecognised, nothing missing. A message that is
        # a number or a boolean has no length: its size is None, so its line takes the exact check.
        sizes = _map_marking(len, flat, set())
        if set(sizes) != {2} and flat:
            mark(j for j, n in enumerate(sizes) if n != 2)
        flat_bad: set[int] = set()
        roles = _map_marking(_role, flat, flat_bad)
        contents = _map_marking(_content, flat, flat_bad)
        if not _FAST_ROLES.issuperset(_set(roles) - {None}):
            flat_bad.update(j for j, role in enumerate(roles) if not isinstance(role, str) or role not in _FAST_ROLES)
        if set(map(type, contents)) != {str} or "" in contents:
            flat_bad.update(j for j, text in enumerate(contents) if type(text) is not str or not text)
        if flat_bad:
            mark(flat_bad)
        # An assistant answer last is the common case; anything else takes the exact path.
        lasts: list[Any] = [x[-1] if x else None for x in lists] if bad else list(map(_last, lists))
        last_roles = [m.get("role") if type(m) is dict else None for m in lasts] if bad else list(map(_role, lasts))
        if _set(last_roles) != {"assistant"}:
            bad.update(i for i, role in enumerate(last_roles) if role != "assistant")

        self.result.valid += len(lines) - len(bad)
        per_example = Counter(counts)
        # Bad lines are profiled by the exact check; take their share back out (they are few).
        for index in bad:
            per_example[counts[index]] -= 1
        self.result.messages_per_example.update(+per_example)
        return bad

    def _clean(self, lines: list[bytes]) -> list[Any] | None:
        """The common case in one go: every line a plain conversation ending in an assistant answer.

        None when the block is proven valid; else the parsed records for _fast ([] if some line is not JSON).
        """
        try:
            records = list(map(orjson.loads, lines))
        except orjson.JSONDecodeError:
            return []
        try:
            lists = list(map(_messages, records))
            counts = list(map(len, lists))
            if not all(counts):
                return records
            flat = list(chain.from_iterable(lists))
            # Every message has role and content (else KeyError below) and nothing else.
            if sum(map(len, flat)) != 2 * len(flat):
                return records
            if not _FAST_ROLES.issuperset(map(_role, flat)):
                return records
            contents = list(map(_content, flat))
            "".join(contents)  # TypeError unless every content is a string
            if "" in contents or set(map(_role, map(_last, lists))) != {"assistant"}:
                return records
        except (KeyError, TypeError, IndexError):
            return records
        result = self.result
        result.valid += len(lines)
        result.messages_per_example.update(counts)
        return None

    def _block(self, lines: list[bytes], first: int) -> None:
        """Check lines[i] (file line first + i of this range)."""
        parsed = self._clean(lines)
        if parsed is None:
            return
        result = self.result
        for index in sorted(self._fast(lines, parsed)):
            if not lines[index].strip():
                result.blank += 1
                result.hashes[first + index - 1] = 0  # hash 0: neither a row nor a duplicate
                continue
            codes, value = _exact_errors(lines[index])
            if codes:
                self._record_error(codes, first + index)
            else:
                self.result.valid += 1
            if value is not None:
                self._profile_exact(value)

    def feed(self, lines: list[bytes]) -> None:
        """Lines that follow the ones fed before. Blank lines are found by the exact check (orjson refuses
        them), which skips them like every JSONL reader does; the line count includes them."""
        result = self.result
        start = result.lines
        result.hashes.extend(map(_line_hash, lines))
        result.lines += len(lines)
        step = self.sample_every
        result.samples.extend(
            (start + i + 1, lines[i]) for i in range(-start % step, len(lines), step) if lines[i].strip()
        )
        for offset in range(0, len(lines), BLOCK_LINES):
            self._block(lines[offset : offset + BLOCK_LINES], start + offset + 1)
