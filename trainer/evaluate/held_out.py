"""Which held-out rows a run was evaluated on, as a fingerprint: the split's name, its size and a hash of its rows.

Runs of one file with the same fractions and seed hold out the same rows wherever they train (this machine or a
hosted API: trainer/data/splits.py makes every split), and `compare` shows the fingerprints so the user can see it:
equal hashes mean the metrics were measured on exactly the same rows. The hash is over the rows as the task reads
them (a classifier's {text, label} test rows, a causal-LM task's held-out validation examples before any
provider's own conversion), one canonical JSON line per row, so the file format a backend uploads does not matter.

Where it comes from: `held_out.json` in the run folder (written by the causal-LM worker and by a hosted backend
when it creates the run from its plan, `for_hosted` + `write_held_out`), else the run's splits/test.jsonl (a
classifier's test split, which local and hosted classifier runs both keep).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json, read_jsonl
from trainer.tasks.base import HostedData

HELD_OUT_FILE = "held_out.json"
# Hex digits of the hash shown; 12 (48 bits) tells splits apart without crowding a table.
SHOWN_DIGITS = 12


def fingerprint(split: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """{"split", "size", "sha256"} of `rows`: the same rows in the same order give the same hash."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return {"split": split, "size": len(rows), "sha256": digest.hexdigest()[:SHOWN_DIGITS]}


def for_hosted(data: HostedData) -> dict[str, Any]:
    """The fingerprint of a hosted plan's held-out rows, as a local run of the same file computes it: the test
    rows when the task holds some out (as a local run writes them), else the validation examples."""
    if data.splits.get("test"):
        rows = data.local_rows or data.examples
        return fingerprint("test", [rows[i] for i in data.splits["test"]])
    return fingerprint("validation", [data.examples[i] for i in data.splits.get("validation", [])])


def write_held_out(run_dir: Path, held_out: dict[str, Any]) -> None:
    atomic_write_json(run_dir / HELD_OUT_FILE, held_out)


def held_out_of(run_dir: Path) -> dict[str, Any] | None:
    """The run's held-out fingerprint, or None when the run keeps no record of its held-out rows."""
    path = run_dir / HELD_OUT_FILE
    if path.is_file():
        found = read_json(path)
        return dict(found) if isinstance(found, dict) else None
    test = run_dir / "splits" / "test.jsonl"
    if test.is_file():
        return fingerprint("test", read_jsonl(test))
    return None


def held_out_note(run_ids: list[int], held_out: list[dict[str, Any] | None]) -> str | None:
    """One sentence on whether the compared runs were evaluated on the same held-out rows."""
    known = [(run_id, found) for run_id, found in zip(run_ids, held_out, strict=True) if found]
    if len(known) < 2:
        return None
    first = known[0][1]
    if all(found["sha256"] == first["sha256"] for _, found in known):
        which = "All the runs" if len(known) == len(run_ids) else "Runs " + ", ".join(str(r) for r, _ in known)
        return (
            f"{which} were evaluated on the same held-out rows ({first['split']} split, {first['size']} rows, "
            f"sha256 {first['sha256']})."
        )
    groups: dict[str, list[int]] = {}
    for run_id, found in known:
        groups.setdefault(found["sha256"], []).append(run_id)
    parts = "; ".join("runs " + ", ".join(str(r) for r in ids) for ids in groups.values())
    return (
        f"The runs were evaluated on different held-out rows ({parts}), so their metrics do not compare directly; "
        "train them on the same file with the same val_fraction, test_fraction and seed."
    )
