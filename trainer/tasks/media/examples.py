"""Read labelled media files from what a user uploads: a folder with one subfolder per class, a zip of that, or a
CSV/JSONL of file paths and labels (inside a folder or zip with the files).

Nothing the data names is opened unless it resolves inside the upload: a path in a CSV that points elsewhere is
skipped with one sentence. Every file is decoded once here, so a corrupt file, a file of another kind and an
image too large to decode are skipped and named before training, never halfway through it; an empty class
folder and a class with a single example get one sentence each.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.data.containers import DATA_SUFFIXES
from trainer.tasks.media.extract import unpacked_folder

if TYPE_CHECKING:
    from trainer.tasks.media.modality import Modality

# File names shown in one sentence before "and N more".
NAMES_SHOWN = 5
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True)
class MediaExample:
    """One labelled file."""

    path: Path  # on disk, inside the upload's folder or its unpacked copy
    name: str  # as the user knows it: relative to the upload (e.g. "digits/zero/0001.png")
    label: str
    # Examples of one group (a speaker, a patient, a camera) stay in one split when the split is by group.
    group: str | None = None
    # SHA-256 of the file's bytes: exact copies share it.
    digest: str = ""


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str  # one sentence


@dataclass
class MediaSet:
    """The usable examples of an upload, and what was left out and why."""

    source: Path  # the upload: a folder, a zip or a CSV/JSONL
    root: Path  # the folder the files are in (the upload's folder, or where its zip was unpacked)
    examples: list[MediaExample]
    skipped: list[Skipped] = field(default_factory=list)
    # One sentence each: empty class folders, single-example classes, rows naming files outside the upload.
    notes: list[str] = field(default_factory=list)
    # "folder" (one subfolder per class) or "paths" (a CSV/JSONL naming the files).
    layout: str = "folder"

    @property
    def labels(self) -> list[str]:
        return sorted({example.label for example in self.examples})

    def counts(self) -> Counter[str]:
        return Counter(example.label for example in self.examples)

    def skipped_sentence(self) -> str | None:
        """One sentence naming the skipped files (the first few) and why, or None when none was skipped."""
        if not self.skipped:
            return None
        if len(self.skipped) == 1:
            return self.skipped[0].reason
        shown = ", ".join(f"'{item.name}'" for item in self.skipped[:NAMES_SHOWN])
        more = f" and {len(self.skipped) - NAMES_SHOWN} more" if len(self.skipped) > NAMES_SHOWN else ""
        return f"{len(self.skipped)} files were skipped because they could not be used ({shown}{more})."


def load_media(
    path: Path,
    modality: Modality,
    workspace_root: Path,
    *,
    file_column: str | None = None,
    label_column: str | None = None,
    min_per_class: int = 1,
) -> MediaSet:
    """The labelled files of an upload, each decoded once to check it; UserError when nothing usable is left.

    `min_per_class`: classes with fewer examples are dropped (with a sentence); 1 keeps every class.
    """
    path = Path(path)
    if path.is_dir():
        media = _from_folder(path, path, modality, file_column, label_column)
    elif path.is_file() and _is_zip(path):
        folder = unpacked_folder(path, workspace_root)
        media = _from_folder(path, folder, modality, file_column, label_column)
    elif path.is_file() and path.name.lower().endswith(DATA_SUFFIXES):
        media = _from_table(path, path, path.parent, modality, file_column, label_column)
    else:
        raise UserError(
            f"'{path.name}' is not a folder, zip or CSV/JSONL of {modality.noun} files; upload a folder (or zip) with "
            f"one subfolder of {modality.noun}s per class."
        )
    _class_notes(media, modality, min_per_class)
    if not media.examples:
        skipped = media.skipped_sentence()
        raise UserError(
            f"'{path.name}' holds no usable {modality.noun} files"
            + (f" ({skipped.rstrip('.')})" if skipped else "")
            + f"; upload a folder or zip with one subfolder of {modality.noun}s per class."
        )
    if len(media.labels) < 2:
        raise UserError(
            f"'{path.name}' has only one class ({', '.join(media.labels)}); a classifier needs at least two class "
            f"folders of {modality.noun}s."
        )
    return media


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) in ZIP_MAGIC


def _visible_files(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(folder).parts)
    ]


def _from_folder(
    source: Path,
    folder: Path,
    modality: Modality,
    file_column: str | None,
    label_column: str | None,
) -> MediaSet:
    files = _visible_files(folder)
    tables = [p for p in files if p.name.lower().endswith(DATA_SUFFIXES)]
    # A list of paths and labels beside the files says what each file is, even when they sit in folders.
    if len(tables) == 1 and (file_column or _lists_files(tables[0], modality)):
        return _from_table(source, tables[0], folder, modality, file_column, label_column)
    media = MediaSet(source=source, root=folder, examples=[])
    class_dirs = {p.parent for p in files if len(p.relative_to(folder).parts) >= 2}
    for file in files:
        relative = file.relative_to(folder).as_posix()
        if file in tables and len(file.relative_to(folder).parts) < 2:
            continue  # a README or list beside the class folders
        if len(file.relative_to(folder).parts) < 2:
            media.skipped.append(
                Skipped(relative, f"'{relative}' is not inside a class folder, so it has no label; it was skipped.")
            )
            continue
        _add_checked(media, modality, file, relative, file.parent.name)
    # Class folders left without files: siblings of the class folders that hold none.
    parents = {d.parent for d in class_dirs}
    for parent in sorted(parents):
        for sub in sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if sub not in class_dirs and not any(d.is_relative_to(sub) for d in class_dirs):
                name = sub.relative_to(folder).as_posix()
                media.notes.append(f"The class folder '{name}' is empty, so that class was left out.")
    return media


def _lists_files(table_path: Path, modality: Modality) -> bool:
    from trainer.data.read import load_table

    try:
        table = load_table(table_path)
    except (UserError, OSError, ValueError):
        return False
    return _path_column(table.rows, table.columns, modality) is not None


def _add_checked(media: MediaSet, modality: Modality, file: Path, name: str, label: str) -> None:
    if not modality.readable(file.name):
        media.skipped.append(Skipped(name, f"'{name}' is not {_a(modality.noun)} file tunechat reads; it was skipped."))
        return
    try:
        data = file.read_bytes()
        modality.decode(data, name)
    except UserError as error:
        media.skipped.append(Skipped(name, f"{str(error).rstrip('.')}; it was skipped."))
        return
    except OSError as error:
        media.skipped.append(Skipped(name, f"'{name}' could not be read ({error.strerror or error}); it was skipped."))
        return
    digest = hashlib.sha256(data).hexdigest()
    media.examples.append(MediaExample(file, name, label, modality.group_of(name), digest))


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _from_table(
    source: Path,
    table_path: Path,
    root: Path,
    modality: Modality,
    file_column: str | None,
    label_column: str | None,
) -> MediaSet:
    from trainer.data.read import load_table

    table = load_table(table_path)
    column = file_column or _path_column(table.rows, table.columns, modality)
    if column is None or column not in table.columns:
        raise UserError(
            f"'{table_path.name}' has no column of {modality.noun} file paths"
            + (f" named '{file_column}'" if file_column else "")
            + f"; name it with file_column (columns: {', '.join(table.columns[:8])})."
        )
    label = label_column or next((c for c in table.columns if c.lower() in ("label", "class", "labels")), None)
    label = label or next((c for c in table.columns if c != column), None)
    if label is None or label not in table.columns:
        raise UserError(
            f"'{table_path.name}' has no label column; add one (e.g. 'label') or name it with label_column."
        )
    media = MediaSet(source=source, root=root, examples=[], layout="paths")
    base, real_root = table_path.parent.resolve(), root.resolve()
    outside: list[int] = []
    missing: list[int] = []
    for row, line in zip(table.rows, table.lines, strict=True):
        value, target = str(row.get(column) or "").strip(), str(row.get(label) or "").strip()
        if not value or not target:
            continue
        try:
            resolved = (base / value).resolve()
        except (OSError, RuntimeError, ValueError):
            outside.append(line)
            continue
        if not resolved.is_relative_to(real_root):
            outside.append(line)
            continue
        if not resolved.is_file():
            missing.append(line)
            continue
        _add_checked(media, modality, resolved, resolved.relative_to(real_root).as_posix(), target)
    if outside:
        media.notes.append(
            f"{_rows(outside)} of '{table_path.name}' name{'s' if len(outside) == 1 else ''} a file outside the "
            "upload, which tunechat does not open; " + ("it was" if len(outside) == 1 else "they were") + " skipped."
        )
    if missing:
        media.notes.append(
            f"{_rows(missing)} of '{table_path.name}' name{'s' if len(missing) == 1 else ''} a file that is not in "
            "the upload; upload the files together with the list in one zip."
        )
    return media


def _rows(lines: list[int]) -> str:
    shown = ", ".join(str(line) for line in lines[:NAMES_SHOWN])
    more = f" and {len(lines) - NAMES_SHOWN} more" if len(lines) > NAMES_SHOWN else ""
    return f"Line {shown}" if len(lines) == 1 else f"{len(lines)} lines ({shown}{more})"


def _path_column(rows: list[dict[str, Any]], columns: list[str], modality: Modality) -> str | None:
    for column in columns:
        values = [str(row.get(column) or "") for row in rows]
        if values and sum(modality.readable(v.strip()) for v in values) >= 0.8 * len(values):
            return column
    return None


def _class_notes(media: MediaSet, modality: Modality, min_per_class: int) -> None:
    counts = media.counts()
    for label, count in sorted(counts.items()):
        if count == 1 and min_per_class <= 1:
            media.notes.append(
                f"Class '{label}' has a single {modality.noun}, so it is kept for training only and the test "
                "cannot measure it; add a few more."
            )
        elif count < min_per_class:
            media.notes.append(
                f"Class '{label}' has only {count} {modality.noun}{'s' if count > 1 else ''}, too few to learn, so "
                f"it was left out; add at least {min_per_class}."
            )
    if min_per_class > 1:
        media.examples = [e for e in media.examples if counts[e.label] >= min_per_class]


def drop_repeats(media: MediaSet) -> int:
    """Keep the first of each exact copy of a file with the same label, so no copy is both trained on and tested;
    copies under different labels are kept (inspection names them). Returns how many were dropped."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for example in media.examples:
        key = (example.digest, example.label)
        if example.digest and key in seen:
            continue
        seen.add(key)
        kept.append(example)
    dropped = len(media.examples) - len(kept)
    media.examples = kept
    return dropped
