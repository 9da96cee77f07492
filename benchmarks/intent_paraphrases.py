"""The share of everyday paraphrases guided mode understands: rules with meaning against the rules alone.

The held-out set (tests/intent_heldout.py) was written before the matcher's example phrasings and never used to
write them; the development set (benchmarks/intent_dev.py) is the one the examples were improved against. A
message counts as understood when classify() returns the intent it asks for (and, where the row says, its run
ids); a question between two intents counts as not understood, and is reported apart (with whether the right
intent was one of the two buttons). "other" rows (small talk) are understood when nothing is matched.

    python benchmarks/intent_paraphrases.py            # the held-out set
    python benchmarks/intent_paraphrases.py --dev      # the development set
    python benchmarks/intent_paraphrases.py --dev2     # the second development set, its rows to improve against
    python benchmarks/intent_paraphrases.py --dev2-kept  # its quarter kept aside, measured before and after only
    python benchmarks/intent_paraphrases.py --dev3     # a third set, written after the second round, measured once
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.intents import Intent, classify, classify_by_rules  # noqa: E402
from benchmarks.intent_dev import DEV  # noqa: E402
from benchmarks.intent_dev2 import KEPT, TUNE  # noqa: E402
from benchmarks.intent_dev3 import DEV3  # noqa: E402


def understood(intent: Intent, expected: str, run_ids: list[int] | None) -> bool:
    wanted = "unknown" if expected == "other" else expected
    return intent.name == wanted and (run_ids is None or intent.run_ids == run_ids)


def _rows(args: argparse.Namespace) -> tuple[str, list[tuple[str, str, list[int] | None]]]:
    """The set asked for; the held-out one is imported only when it is the one measured."""
    if args.dev:
        return "development", [(text, intent, None) for text, intent in DEV]
    if args.dev2:
        return "second development (rows to improve on)", TUNE
    if args.dev2_kept:
        return "second development (kept quarter)", KEPT
    if args.dev3:
        return "third development", DEV3
    from tests.intent_heldout import HELD_OUT

    return "held-out", HELD_OUT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--dev", action="store_true", help="measure the development set instead of the held-out one")
    group.add_argument("--dev2", action="store_true", help="measure the second development set's rows to improve on")
    group.add_argument("--dev2-kept", action="store_true", help="measure the second development set's kept quarter")
    group.add_argument("--dev3", action="store_true", help="measure the third development set")
    args = parser.parse_args()
    name, rows = _rows(args)
    started = time.perf_counter()
    classify("warm up")  # loads MiniLM once, so the timing below is per message
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    results = [(text, expected, ids, classify(text)) for text, expected, ids in rows]
    per_message = (time.perf_counter() - started) / len(rows)
    rules = sum(understood(classify_by_rules(text), expected, ids) for text, expected, ids in rows)
    meaning = sum(understood(intent, expected, ids) for _, expected, ids, intent in results)
    asked = [(text, expected, intent) for text, expected, _, intent in results if intent.name == "ask"]
    print(f"{name} set: {len(rows)} paraphrases")
    print(f"rules with meaning: {meaning}/{len(rows)} = {meaning / len(rows):.1%}")
    print(f"rules only:         {rules}/{len(rows)} = {rules / len(rows):.1%}")
    print(
        f"asked instead of guessing: {len(asked)} (the right intent among the two buttons: "
        f"{sum(expected in intent.choices for _, expected, intent in asked)})"
    )
    print(f"model load {loaded:.1f} s, then {per_message * 1000:.0f} ms a message")
    misses = [
        (text, expected, ids, intent)
        for text, expected, ids, intent in results
        if not understood(intent, expected, ids)
    ]
    if misses:
        print("\nnot understood (message: wanted -> got):")
        for text, expected, ids, intent in misses:
            got = f"ask {' / '.join(intent.choices)}" if intent.name == "ask" else intent.name
            shown_ids = f" runs {ids}" if ids is not None else ""
            print(f"  {text!r}: {expected}{shown_ids} -> {got} runs {intent.run_ids}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
