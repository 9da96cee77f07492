"""Repair, convert and split a data file into a prepared dataset in the workspace.

The upload is only read. The result goes to datasets/<name>-<hash>/ (hash of the prepared content,
so preparing the same data the same way twice gives the same folder) with a manifest.json saying
where it came from, every step done and the row counts before and after each step. The folder is
written under a temporary name and renamed into place, so it is either complete or absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError, disk_space_for
from trainer.core.fileio import atomic_write_json
from trainer.core.workspace import Workspace
from trainer.data import kinds
from trainer.data.convert import iter_converted
from trainer.data.read import load_table
from trainer.data.splits import SPLITS, split_indices
from trainer.data.table import Table
from trainer.data.task_choice import resolve_shape
from trainer.data.values import NAN_LABELS, as_number
from trainer.tasks.text_classification.chat_format import chat_example, system_prompt

TARGETS = ("chat-jsonl", "jsonl")
SAMPLES = 2


def parse_split(text: str | None) -> tuple[float, float, float] | None:
    """'0.8,0.1,0.1' (or '80/10/10') as three fractions summing to 1."""
    if not text:
        return None
    try:
        parts = [float(x) for x in re.split(r"[,/ ]+", text.strip()) if x]
    except ValueError:
        parts = []
    if len(parts) == 2:  # "80/20" is train and test
        parts.insert(1, 0.0)
    total = sum(parts)
    if len(parts) != 3 or total <= 0 or any(p < 0 for p in parts):
        raise UserError(f"'{text}' is not a train,validation,test split; write it like 0.8,0.1,0.1.")
    if total > 1.5:  # percentages
        parts = [p / 100 for p in parts]
        total = sum(parts)
    if abs(total - 1) > 0.01 or parts[0] <= 0:
        raise UserError(f"The split '{text}' adds up to {total:g}, not 1; write it like 0.8,0.1,0.1.")
    return parts[0], parts[1], parts[2]


def _classification_records(table: Table, mapping: dict[str, str], regression: bool) -> tuple[list, list, list]:
    """(records with their lines, lines of empty rows, lines of NaN labels)."""
    text, label, pair = mapping["text"], mapping["label"], mapping.get("text_pair")
    kept, empty, missing_label = [], [], []
    for row, line in zip(table.rows, table.lines, strict=True):
        value, target = (row.get(text) or "").strip(), (row.get(label) or "").strip()
        second = (row.get(pair) or "").strip() if pair else ""
        if not value or not target or (pair and not second):
            empty.append(line)
            continue
        if target.lower() in NAN_LABELS or (regression and as_number(target) is None):
            missing_label.append(line)
            continue
        record: dict[str, Any] = {"text": value}
        if pair:
            record["text_pair"] = second
        record["label"] = as_number(target) if regression else target
        kept.append((line, record))
    return kept, empty, missing_label


def prepare_dataset(
    path: Path,
    workspace: Workspace,
    *,
    task: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    dedupe: bool = False,
    split: str | tuple[float, float, float] | None = None,
    to: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Repair (drop broken, empty and optionally duplicate rows), convert and split a file.

    Returns the manifest (also saved as manifest.json in the dataset folder) plus "path".
    """
    path = Path(path)
    if to and to not in TARGETS:
        raise UserError(f"'{to}' is not an output format tunechat writes; use chat-jsonl or jsonl.")
    fractions = parse_split(split) if isinstance(split, str) or split is None else tuple(split)
    table = load_table(path)
    shape = resolve_shape(table, task, text_column, label_column)
    kind = shape["task"]
    steps: list[dict[str, Any]] = []
    rows_before = len(table.rows) + len(table.bad_lines)

    def step(name: str, removed: list[int], detail: str) -> None:
        steps.append({"step": name, "removed": len(removed), "lines": removed[:10], "detail": detail})

    if table.bad_lines:
        step("drop_unreadable", table.bad_lines, "dropped lines that could not be read")
    if kind in kinds.LANGUAGE_MODEL_DATA:
        records, broken = _llm_records(table, shape)
        if broken:
            reasons = Counter(reason for _, reason in broken)
            detail = "; ".join(f"{n} × {reason}" for reason, n in reasons.most_common(3))
            step("drop_unusable", [line for line, _ in broken], f"dropped records that cannot be used ({detail})")
        if kind in kinds.CONVERSATIONS and shape["shape"] not in ("openai-messages", "openai-messages+tools"):
            step("convert", [], f"converted {shape['shape']} records to OpenAI chat messages")
        fmt = "chat-jsonl" if kind in kinds.CONVERSATIONS else f"{kind}-jsonl"
    elif kind in (*kinds.LABELLED_TEXT, kinds.REGRESSION):
        records, empty, missing = _classification_records(table, shape["mapping"], kind == kinds.REGRESSION)
        if empty:
            step("drop_empty", empty, "dropped rows with an empty text or label")
        if missing:
            step("drop_missing_labels", missing, "dropped rows whose label is missing (NaN, null) or not a number")
        fmt = "jsonl"
        mapping = shape["mapping"]
        renamed = {mapping["text"]: "text", mapping["label"]: "label"}
        if mapping.get("text_pair"):
            renamed[mapping["text_pair"]] = "text_pair"
        if any(k != v for k, v in renamed.items()):
            listed = ", ".join(f"'{k}' → '{v}'" for k, v in renamed.items() if k != v)
            step("rename_columns", [], f"renamed columns {listed}")
    else:
        records = [(line, dict(row)) for row, line in zip(table.rows, table.lines, strict=True)]
        fmt = "jsonl"
    before_samples = [_sample(table, i) for i in range(min(SAMPLES, len(table.rows)))]

    if dedupe:
        records, dropped = _dedupe(records, kind)
        if dropped:
            step("dedupe", dropped, "dropped exact duplicates (the first copy is kept)")
        else:
            step("dedupe", [], "no duplicates found")

    if to == "chat-jsonl" and fmt != "chat-jsonl":
        if kind not in kinds.LABELLED_TEXT:
            raise UserError(
                f"'{path.name}' holds {kind} data, which tunechat cannot turn into chat examples; "
                "convert labelled texts or conversations."
            )
        labels = sorted({str(r["label"]) for _, r in records})
        system = system_prompt(labels)
        records = [(line, chat_example(r["text"], str(r["label"]), system, r.get("text_pair"))) for line, r in records]
        fmt = "chat-jsonl"
        step("convert", [], f"turned labelled texts into chat examples answering one of {len(labels)} classes")
    if not records:
        raise UserError(f"Nothing is left of '{path.name}' after the repairs; fix the file and try again.")

    parts = _split(records, kind, fractions, seed, table, shape, steps)
    contents = {
        name: "".join(json.dumps(r, ensure_ascii=False) + "\n" for _, r in rows).encode("utf-8")
        for name, rows in parts.items()
    }
    digest = hashlib.sha256()
    for name in sorted(contents):
        digest.update(name.encode() + b"\0" + contents[name])
    content_hash = digest.hexdigest()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", path.name.split(".")[0]).strip("_") or "data"
    folder_name = f"{stem}-{content_hash[:12]}"
    manifest: dict[str, Any] = {
        "name": folder_name,
        "source": {"file": path.name, "sha256": _file_hash(path), "bytes": _size(path)},
        "task": kind,
        "shape": shape["shape"],
        "mapping": shape["mapping"],
        "format": fmt,
        "steps": steps,
        "counts": {"before": rows_before, "after": len(records), "splits": {k: len(v) for k, v in parts.items()}},
        "files": {name: f"{name}.jsonl" for name in contents},
        "content_sha256": content_hash,
        "seed": seed,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "samples": {"before": before_samples, "after": [r for _, r in records[:SAMPLES]]},
    }
    target = workspace.datasets / folder_name
    with disk_space_for(f"the prepared dataset {folder_name}", "prepare it again"):
        _write_folder(workspace, target, contents, manifest)
    manifest["path"] = str(target)
    return manifest


def _llm_records(table: Table, shape: dict[str, Any]) -> tuple[list, list]:
    records, broken = [], []
    for line, record, reason in iter_converted(table, shape):
        if record is None:
            broken.append((line, reason))
        else:
            records.append((line, record))
    return records, broken


def _dedupe(records: list[tuple[int, dict[str, Any]]], kind: str) -> tuple[list, list[int]]:
    seen: set[str] = set()
    kept, dropped = [], []
    for line, record in records:
        # Labelled texts are duplicates when the text repeats (whatever the label); the rest when identical.
        key = record["text"] if kind in (kinds.TEXT_CLASSIFICATION, kinds.REGRESSION) and "text" in record else None
        key = key if key is not None else json.dumps(record, sort_keys=True, ensure_ascii=False)
        if key in seen:
            dropped.append(line)
            continue
        seen.add(key)
        kept.append((line, record))
    return kept, dropped


def _split(
    records: list[tuple[int, dict[str, Any]]],
    kind: str,
    fractions: tuple[float, ...] | None,
    seed: int,
    table: Table,
    shape: dict[str, Any],
    steps: list[dict[str, Any]],
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    if table.splits:
        # The user's own splits win over any fractions: they chose what is held out.
        parts = {"train": records}
        for name, split_table in table.splits.items():
            split_records = (
                _llm_records(split_table, shape)[0]
                if kind in kinds.LANGUAGE_MODEL_DATA
                else _classification_records(split_table, shape["mapping"], kind == kinds.REGRESSION)[0]
                if kind in (*kinds.LABELLED_TEXT, kinds.REGRESSION)
                else [(line, dict(row)) for row, line in zip(split_table.rows, split_table.lines, strict=True)]
            )
            parts[name] = split_records
        steps.append(
            {"step": "split", "removed": 0, "lines": [], "detail": f"kept the user's own splits ({', '.join(parts)})"}
        )
        return parts
    if not fractions:
        return {"data": records}
    _, val, test = fractions
    stratified = kind in kinds.LABELLED_TEXT
    labels = [str(r["label"]) for _, r in records] if stratified else None
    indices = split_indices(len(records), val, test, seed, labels=labels)
    how = "stratified by label" if stratified else "shuffled"
    steps.append(
        {
            "step": "split",
            "removed": 0,
            "lines": [],
            "detail": f"split {fractions[0]:g}/{val:g}/{test:g} ({how}, seed {seed})",
        }
    )
    return {name: [records[i] for i in sorted(indices[name])] for name in SPLITS if indices[name]}


def _sample(table: Table, index: int) -> dict[str, Any]:
    source = table.records[index] if table.records is not None else table.rows[index]
    text = json.dumps(source, ensure_ascii=False, default=str)
    return json.loads(text) if len(text) <= 2000 else {"line": table.lines[index], "preview": text[:300] + "…"}


def _file_hash(path: Path) -> str:
    if path.is_dir():
        return ""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _write_folder(workspace: Workspace, target: Path, contents: dict[str, bytes], manifest: dict[str, Any]) -> None:
    workspace.datasets.mkdir(parents=True, exist_ok=True)
    if not target.resolve().is_relative_to(workspace.datasets.resolve()):
        raise UserError("The prepared dataset would land outside the workspace; use a plain file name.")
    if (target / "manifest.json").is_file():
        # Same content prepared before: refresh the manifest (steps may differ), keep the data files.
        atomic_write_json(target / "manifest.json", manifest)
        return
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=workspace.datasets))
    try:
        for name, data in contents.items():
            (staging / f"{name}.jsonl").write_bytes(data)
        atomic_write_json(staging / "manifest.json", manifest)
        for file in staging.iterdir():
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
        if target.exists():
            shutil.rmtree(target)  # a folder without a manifest is a leftover of an interrupted run
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
