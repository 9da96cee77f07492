"""Benchmark: tunechat's streaming chat JSONL checker against a straightforward per-line validator.

Generates a chat JSONL file (default 1,000,000 rows, about 300 MB) in a temporary folder with a
known number of planted errors of every OpenAI format class, then times
  - tunechat: trainer.inspection.stream.check_chat_jsonl (all cores, exact duplicates and profile too), and
  - baseline: a plain `for line in file: json.loads(line)` loop with the same rules, written here,
each in a fresh subprocess, asserts that both find exactly the planted error counts, and prints
both times, the ratio and the peak memory of each.

    python benchmarks/check_chat_jsonl.py [--rows 1000000] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PLANTED_PER_CODE = 100
CODES = (
    "invalid_json",
    "data_type",
    "missing_messages_list",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
)
WORDS = (
    "the model should answer briefly and politely when a customer asks about an order a refund a delivery "
    "date the weather a recipe or a piece of code that does not compile on their laptop this morning"
).split()


def planted(code: str, i: int) -> str:
    """One line carrying exactly the error `code` (and no other)."""
    user = {"role": "user", "content": f"question {i}"}
    answer = {"role": "assistant", "content": f"answer {i}"}
    if code == "invalid_json":
        return json.dumps({"messages": [user, answer]})[:-7]  # cut off mid-line
    if code == "data_type":
        return json.dumps([user, answer])
    if code == "missing_messages_list":
        return json.dumps({"conversation": [user, answer]})
    if code == "message_missing_key":
        return json.dumps({"messages": [{"content": f"question {i}"}, answer]})
    if code == "message_unrecognized_key":
        return json.dumps({"messages": [{**user, "mood": "happy"}, answer]})
    if code == "unrecognized_role":
        return json.dumps({"messages": [{"role": "customer", "content": f"question {i}"}, answer]})
    if code == "missing_content":
        return json.dumps({"messages": [user, {"role": "assistant", "content": ""}, answer]})
    if code == "example_missing_assistant_message":
        return json.dumps({"messages": [{"role": "system", "content": "Be brief."}, user]})
    raise ValueError(code)


def generate(path: Path, rows: int, seed: int = 0) -> dict[str, int]:
    """Write `rows` lines; PLANTED_PER_CODE of them (per code) carry one error. Returns the planted counts."""
    rng = random.Random(seed)
    questions = [" ".join(rng.choices(WORDS, k=rng.randint(5, 13))) for _ in range(997)]
    answers = [" ".join(rng.choices(WORDS, k=rng.randint(8, 20))) for _ in range(1009)]
    system = "You are a helpful support assistant for an online shop."
    bad_at = {}
    positions = rng.sample(range(rows), PLANTED_PER_CODE * len(CODES))
    for index, position in enumerate(positions):
        bad_at[position] = CODES[index // PLANTED_PER_CODE]
    with path.open("w", encoding="utf-8") as handle:
        batch = []
        for i in range(rows):
            if i in bad_at:
                batch.append(planted(bad_at[i], i))
            else:
                messages = [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"{questions[i % 997]}? (ticket {i})"},
                    {"role": "assistant", "content": answers[i % 1009] + "."},
                ]
                if i % 10 == 0:  # some multi-turn conversations
                    messages += [{"role": "user", "content": "Thanks, and one more thing?"}, messages[2]]
                batch.append(json.dumps({"messages": messages}))
            if len(batch) == 10000:
                handle.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            handle.write("\n".join(batch) + "\n")
    expected = {code: PLANTED_PER_CODE for code in CODES}
    # A message without a role also has no recognised role (OpenAI's cookbook counts both).
    expected["unrecognized_role"] += PLANTED_PER_CODE
    return expected


# The baseline: what a developer writes first. Same rules as tunechat (OpenAI's cookbook checks plus
# tool calls), one json.loads per line, one Python loop per message, each code counted once per line.
BASELINE = r"""
import json, sys, time, resource
from collections import Counter
KEYS = {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"}
ROLES = {"system", "user", "assistant", "function", "tool"}

def content_ok(m):
    content = m.get("content")
    calls = m.get("tool_calls") or m.get("function_call")
    if isinstance(content, str):
        return bool(content) or bool(calls)
    if content is None:
        return bool(calls)
    return isinstance(content, list) and bool(content) and all(isinstance(p, dict) and "type" in p for p in content)

def check(path):
    errors = Counter()
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                ex = json.loads(line)
            except ValueError:
                errors["invalid_json"] += 1
                continue
            if not isinstance(ex, dict):
                errors["data_type"] += 1
                continue
            messages = ex.get("messages")
            if not messages or not isinstance(messages, list):
                errors["missing_messages_list"] += 1
                continue
            found = set()
            for m in messages:
                if not isinstance(m, dict):
                    found.add("data_type")
                    continue
                if "role" not in m or ("content" not in m and not m.get("tool_calls")):
                    found.add("message_missing_key")
                if any(k not in KEYS for k in m):
                    found.add("message_unrecognized_key")
                if m.get("role") not in ROLES:
                    found.add("unrecognized_role")
                if not content_ok(m):
                    found.add("missing_content")
            if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
                found.add("example_missing_assistant_message")
            errors.update(found)
    return dict(errors)

start = time.perf_counter()
errors = check(sys.argv[1])
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"errors": errors, "seconds": elapsed, "peak_bytes": rss}))
"""

TUNECHAT = r"""
import json, sys, time, resource
from trainer.inspection.stream import check_chat_jsonl
workers = int(sys.argv[2]) or None
start = time.perf_counter()
report = check_chat_jsonl(sys.argv[1], workers=workers)
elapsed = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"errors": report["errors"], "seconds": elapsed, "peak_bytes": own + child * max(1, (workers or 2)),
                  "rows": report["rows"], "duplicates": report["duplicates"]["count"]}))
"""


def run(script: str, *args: str) -> dict:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=0, help="processes for tunechat (default: all cores, up to 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunechat-bench-") as folder:
        path = Path(folder) / "chat.jsonl"
        began = time.perf_counter()
        expected = generate(path, args.rows)
        size = path.stat().st_size
        print(f"generated {args.rows:,} rows, {size / 1e6:.0f} MB, in {time.perf_counter() - began:.1f} s")
        print(f"planted: {sum(expected.values())} errors, {PLANTED_PER_CODE} of each of {len(CODES)} classes")
        try:
            load = os.getloadavg()[0]
            print(f"load average before timing: {load:.2f} on {os.cpu_count()} cores")
        except OSError:
            pass
        ours = run(TUNECHAT, str(path), str(args.workers))
        base = run(BASELINE, str(path))
        same = Counter(ours["errors"]) == Counter(base["errors"]) == Counter(expected)
        print(
            f"tunechat: {ours['seconds']:.2f} s, peak memory ~{ours['peak_bytes'] / 1e6:.0f} MB "
            f"({ours['peak_bytes'] / size:.2f}x the file), {ours['rows']:,} rows, errors {ours['errors']}"
        )
        print(
            f"baseline: {base['seconds']:.2f} s, peak memory ~{base['peak_bytes'] / 1e6:.0f} MB, "
            f"errors {base['errors']}"
        )
        print(f"ratio: {base['seconds'] / ours['seconds']:.1f}x faster; identical error counts: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
