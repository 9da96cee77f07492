"""Check and profile a chat JSONL file of any size without holding it in memory.

Every line gets the exact rules of checks.chat_example_errors. The speed comes from checking
blocks of lines with C-level operations (orjson, map, set) instead of a Python loop per message:
a block whose lines are all plain {role, content} conversations ending in an assistant answer is
proven valid in one go; in any other block, the same passes point at the few lines that need the
exact per-line check. The file is cut into one byte range per CPU core, checked in parallel
(forked processes) and merged in line order.

Exact over every line: invalid JSON, the OpenAI format error classes, exact duplicate lines (xxh3
hashes) and messages per example. Line length percentiles, roles, personal data
and token lengths are measured on an evenly spread sample of lines (the report says how many).
"""

from __future__ import annotations

import gc
import json
import math
import multiprocessing
import os
import random
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from trainer.core.errors import UserError
from trainer.inspection.rules import CHAT_CODES, chat_example_errors, chat_problem_message, find_pii

CHUNK_BYTES = 8 << 20  # read size per step; memory per worker stays around a few times this
BLOCK_LINES = 128  # lines proven valid together; small enough that most blocks hold no error
PARALLEL_ABOVE = 16 << 20  # smaller files are checked in-process (starting workers costs more)
LINES_KEPT = 5  # line numbers kept per problem
SAMPLE_LINES = 5000  # lines kept for personal data and token statistics

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


class _Scanner:
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

        # Exactly two keys that include role and content: nothing unrecognised, nothing missing.
        sizes = list(map(len, flat))
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


def _feed(scanner: _Scanner, lines: list[bytes]) -> None:
    """Lines that follow the ones fed before. Blank lines are found by the exact check (orjson refuses
    them), which skips them like every JSONL reader does; the line count includes them."""
    result = scanner.result
    start = result.lines
    result.hashes.extend(map(_line_hash, lines))
    result.lines += len(lines)
    step = scanner.sample_every
    result.samples.extend((start + i + 1, lines[i]) for i in range(-start % step, len(lines), step) if lines[i].strip())
    for offset in range(0, len(lines), BLOCK_LINES):
        scanner._block(lines[offset : offset + BLOCK_LINES], start + offset + 1)


def scan_range(path: str, start: int, end: int, sample_every: int) -> RangeResult:
    """Check the lines that start in [start, end) of the file (start is 0 or just after a newline)."""
    scanner = _Scanner(sample_every)
    was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived dicts would trigger collections for nothing
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            position = start
            carry = b""
            while position < end:
                data = handle.read(min(CHUNK_BYTES, end - position))
                if not data:
                    break
                position += len(data)
                data = carry + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                carry = data[cut + 1 :]
                _feed(scanner, data[:cut].split(b"\n"))
                gc.collect(0)
            if carry:
                _feed(scanner, [carry.rstrip(b"\r")])
    finally:
        if was_enabled:
            gc.enable()
    result = scanner.result
    for line, raw in result.samples:
        for kind in find_pii(raw.decode("utf-8", errors="replace")):
            result.pii[kind] += 1
            result.pii_lines.setdefault(kind, []).append(line)
    result.roles = _sample_roles(result.samples)
    return result


def _ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    size = path.stat().st_size
    bounds = [0]
    with open(path, "rb") as handle:
        for index in range(1, parts):
            handle.seek(size * index // parts)
            handle.readline()  # move to the start of the next line
            bounds.append(max(bounds[-1], handle.tell()))
    bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _sample_roles(samples: list[tuple[int, bytes]]) -> Counter[str]:
    roles: Counter[str] = Counter()
    for _, raw in samples:
        try:
            messages = orjson.loads(raw).get("messages")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(messages, list):
            roles.update(m["role"] for m in messages if isinstance(m, dict) and isinstance(m.get("role"), str))
    return roles


def _percentiles(lengths: list[int]) -> dict[str, Any]:
    values = sorted(filter(None, lengths))
    if not values:
        return {}

    def rank(q: float) -> int:
        return values[max(0, math.ceil(len(values) * q) - 1)]

    return {"p50": rank(0.5), "p95": rank(0.95), "max": values[-1], "mean": round(sum(values) / len(values), 1)}


def check_chat_jsonl(
    path: Path, *, workers: int | None = None, sample: int = SAMPLE_LINES, keep_sample: bool = False
) -> dict[str, Any]:
    """Check a chat JSONL file against OpenAI's format rules and profile it, streaming.

    Returns {"file", "rows", "valid_rows", "blank_lines", "errors": {code: count}, "problems": [...],
    "duplicates", "length_bytes", "messages_per_example", "roles", "pii", "sample_size", "elapsed_s"}.
    """
    path = Path(path)
    began = time.perf_counter()
    if not path.is_file():
        raise UserError(f"There is no file '{path.name}'; check the name and try again.")
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"'{path.name}' is empty (0 bytes); upload a file with one chat example per line.")
    estimated_rows = max(1, size // 300)
    sample_every = max(1, estimated_rows // max(1, sample))
    cores = workers or min(4, os.cpu_count() or 1)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if cores > 1 and size > PARALLEL_ABOVE and can_fork:
        ranges = _ranges(path, cores)
        with ProcessPoolExecutor(len(ranges), mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(scan_range, str(path), a, b, sample_every) for a, b in ranges]
            import numpy  # noqa: F401  # loaded while the workers run; the merge needs it

            results = [f.result() for f in futures]
    else:
        results = [scan_range(str(path), 0, size, sample_every)]
    report = _merge(path, results, began)
    if keep_sample:  # (line, text) of the sampled lines, for token statistics by the caller
        report["sample_lines"] = _decoded_samples(results)
    return report


def _decoded_samples(results: list[RangeResult]) -> list[tuple[int, str]]:
    out, offset = [], 0
    for result in results:
        out += [(offset + line, raw.decode("utf-8", errors="replace")) for line, raw in result.samples]
        offset += result.lines
    return out


def _duplicates(hashes: array) -> tuple[int, list[int]]:
    """How many non-blank lines repeat an earlier line exactly, and the first few of their line numbers."""
    import numpy as np

    # Sorting the 64-bit hashes in numpy avoids a Python int and a set entry per line.
    values = np.frombuffer(hashes, dtype=np.uint64)
    ordered = np.sort(values)
    if not np.count_nonzero((ordered[1:] == ordered[:-1]) & (ordered[1:] != 0)):  # hash 0 marks a blank line
        return 0, []
    order = np.argsort(values, kind="stable")  # equal hashes keep file order, so the first copy comes first
    ordered = values[order]
    repeat = (ordered[1:] == ordered[:-1]) & (ordered[1:] != 0)
    later = np.sort(order[1:][repeat])
    return int(later.size), [int(i) + 1 for i in later[:LINES_KEPT]]


def _merge(path: Path, results: list[RangeResult], began: float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    first_lines: dict[str, list[int]] = {}
    hashes = array("Q")
    per_example: Counter[int] = Counter()
    samples: list[tuple[int, bytes]] = []
    pii: Counter[str] = Counter()
    pii_lines: dict[str, list[int]] = {}
    roles: Counter[str] = Counter()
    offset = rows = blank = valid = 0
    for result in results:
        pii.update(result.pii)
        roles.update(result.roles)
        for kind, lines in result.pii_lines.items():
            pii_lines.setdefault(kind, []).extend(offset + line for line in lines)
        counts.update(result.counts)
        for code, lines in result.first_lines.items():
            kept = first_lines.setdefault(code, [])
            kept.extend(offset + line for line in lines[: LINES_KEPT - len(kept)])
        hashes.extend(result.hashes)
        per_example.update(result.messages_per_example)
        samples.extend((offset + line, raw) for line, raw in result.samples)
        offset += result.lines
        blank += result.blank
        valid += result.valid
    rows = offset - blank

    duplicates, duplicate_lines = _duplicates(hashes)

    problems = []
    for code in CHAT_CODES:
        if counts[code]:
            shown = first_lines[code]
            problems.append(
                {
                    "code": code,
                    "count": counts[code],
                    "rows": shown,
                    "message": chat_problem_message(code, counts[code], shown),
                }
            )
    if duplicates:
        problems.append(
            {
                "code": "duplicates",
                "count": duplicates,
                "rows": duplicate_lines,
                "message": f"{duplicates} line{'s repeat' if duplicates > 1 else ' repeats'} an earlier line exactly "
                f"(e.g. line {duplicate_lines[0]}); remove the copies with `tunechat prepare {path.name} --dedupe`.",
            }
        )
    if pii:
        kinds = ", ".join(f"{kind} ({count})" for kind, count in sorted(pii.items()))
        first = min(line for lines in pii_lines.values() for line in lines)
        problems.append(
            {
                "code": "personal_data",
                "count": sum(pii.values()),
                "rows": sorted({x for lines in pii_lines.values() for x in lines})[:LINES_KEPT],
                "message": f"Lines sampled from the file contain likely personal data: {kinds} (e.g. line {first}); "
                "remove or mask it before training or sending the file to a provider.",
            }
        )
    sample_lines = random.Random(0).sample(samples, min(len(samples), SAMPLE_LINES))
    return {
        "file": path.name,
        "format": "jsonl",
        "rows": rows,
        "valid_rows": valid,
        "blank_lines": blank,
        "errors": {code: counts[code] for code in CHAT_CODES if counts[code]},
        "problems": problems,
        "duplicates": {"count": duplicates, "rows": duplicate_lines},
        "length_bytes": {**_percentiles([len(raw) for _, raw in samples]), "sampled": True},
        "messages_per_example": dict(sorted(per_example.items())),
        "roles": dict(roles.most_common()),
        "pii": {"counts": dict(pii), "sampled_lines": len(samples)},
        "sample_size": len(samples),
        "sample": [raw.decode("utf-8", errors="replace") for _, raw in sample_lines[:3]],
        "elapsed_s": round(time.perf_counter() - began, 3),
    }
