"""The held-out inputs of a finished classifier or regression run, for the parity check: its test split's texts,
text pairs or files, else the inputs of its predictions.jsonl.

Media files are named in the split as the user knows them (relative to the upload). They are opened only when they
resolve inside the upload (its folder, the unpacked copy of its zip, or the folder of its list of paths), as the
media task reads them; a name that points anywhere else is skipped, never opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_jsonl
from trainer.core.workspace import resolve_data_path


@dataclass(frozen=True)
class HeldOutFile:
    """A held-out media file: a path to open, shown by the name the user knows it by."""

    name: str
    path: Path

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return self.name


def held_out_rows(run_dir: Path, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows of the run's test split ({"text", "text_pair"?, ...} or {"file", ...}), else of its
    predictions (their "input" and "input_pair" given the split's names)."""
    if limit <= 0:
        return []
    rows = read_jsonl(Path(run_dir) / "splits" / "test.jsonl")
    if not rows:
        rows = [
            {"text": row.get("input"), "file": row.get("input"), "text_pair": row.get("input_pair")}
            for row in read_jsonl(Path(run_dir) / "predictions.jsonl")
        ]
    return rows[:limit]


def held_out_texts(run_dir: Path, limit: int, pairs: bool) -> list[Any]:
    """Texts, or (text, text pair) tuples for a pair model."""
    found: list[Any] = []
    for row in held_out_rows(run_dir, limit):
        text, pair = row.get("text"), row.get("text_pair")
        if not isinstance(text, str) or (pairs and not isinstance(pair, str)):
            continue
        found.append((text, pair) if pairs else text)
    return found


def upload_root(run_dir: Path, config: dict[str, Any]) -> Path:
    """The folder a media run's file names are relative to: the upload folder, its zip's unpacked copy (made once,
    through the zip guards, as training made it), or the folder of its list of paths."""
    from trainer.tasks.media.examples import ZIP_MAGIC
    from trainer.tasks.media.extract import unpacked_folder

    workspace = Path(run_dir).resolve().parent.parent  # run_dir is <workspace>/runs/run-<id>
    data = resolve_data_path(str(config.get("data") or ""), workspace)
    if data.is_dir():
        return data
    with data.open("rb") as handle:
        if handle.read(4) in ZIP_MAGIC:
            return unpacked_folder(data, workspace)
    return data.parent


def held_out_files(run_dir: Path, config: dict[str, Any], limit: int, readable: Any) -> list[HeldOutFile]:
    """The run's held-out files that resolve inside its upload and whose names `readable(name)` accepts."""
    names = [str(row.get("file") or "") for row in held_out_rows(run_dir, limit)]
    if not any(names):
        return []
    try:
        root = upload_root(run_dir, config).resolve()
    except (UserError, OSError):
        return []
    found = []
    for name in names:
        try:
            path = (root / name).resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if name and path.is_relative_to(root) and path.is_file() and readable(path.name):
            found.append(HeldOutFile(name, path))
    return found
