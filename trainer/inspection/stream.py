"""Check and profile a chat JSONL file of any size without holding it in memory.

Every line gets the exact rules of trainer.inspection.rules, checked block by block at C speed
(trainer.inspection.stream_blocks). The file is cut into one byte range per CPU core, checked in parallel
(forked processes) and merged in line order.

Exact over every line: invalid JSON, the OpenAI format error classes, exact duplicate lines (xxh3
hashes) and messages per example. Line length percentiles, roles, personal data
and token lengths are measured on an evenly spread sample of lines (the report says how many).
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import random
import time
from array import array
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from trainer.core.errors import UserError
from trainer.inspection.personal_data import find_pii
from trainer.inspection.rules import CODES, chat_problem_message
from trainer.inspection.stream_blocks import LINES_KEPT, RangeResult, Scanner

CHUNK_BYTES = 8 << 20  # read size per step; memory per worker stays around a few times this
PARALLEL_ABOVE = 16 << 20  # smaller files are checked in-process (starting workers costs more)
SAMPLE_LINES = 5000  # lines kept for personal data and token statistics


def scan_range(path: str, start: int, end: int, sample_every: int) -> RangeResult:
    """Check the lines that start in [start, end) of the file (start is 0 or just after a newline)."""
    scanner = Scanner(sample_every)
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
                scanner.feed(data[:cut].split(b"\n"))
                gc.collect(0)
            if carry:
                scanner.feed([carry.rstrip(b"\r")])
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
    for code in CODES:
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
        "errors": {code: counts[code] for code in CODES if counts[code]},
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
