"""The inspection report of labelled media files, whatever the modality: counts per class, what the modality says
about the files (sizes, modes, durations), files skipped and why, exact copies (within a class and across
classes), and a contact sheet: a row of thumbnails per class, drawn by tunechat into the workspace."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.tasks.media.examples import MediaExample, load_media

if TYPE_CHECKING:
    from trainer.tasks.media.modality import Modality

# Files decoded for the modality's facts (a sample is enough for sizes and modes).
DESCRIBE_SAMPLE = 2000
NAMES_LISTED = 10
# Under the workspace root: the contact sheets of inspected uploads (the chat may show PNGs from here).
SHEETS = Path("prepared") / "contact-sheets"
# Under the workspace root: recordings of inspected uploads the chat offers to play (WAVs written by tunechat).
CLIPS = Path("prepared") / "clips"
# Recordings offered per upload: the first file of each of the first classes.
CLIPS_OFFERED = 4


def inspect_media(path: Path, modality: Modality, workspace_root: Path, **columns: str | None) -> dict[str, Any]:
    """What the chat shows about an upload of labelled media files (UserError when none is usable)."""
    from trainer.tasks.media.gallery import SHEET_PER_CLASS, plot_contact_sheet

    media = load_media(
        path, modality, workspace_root, file_column=columns.get("file_column"), label_column=columns.get("label_column")
    )
    counts = media.counts()
    total = len(media.examples)
    step = max(1, total // DESCRIBE_SAMPLE)
    sample = [(e.name, modality.decode(e.path.read_bytes(), e.name)) for e in media.examples[::step]]
    by_class: dict[str, list[Any]] = defaultdict(list)
    for example in media.examples:
        if len(by_class[example.label]) < SHEET_PER_CLASS:
            by_class[example.label].append(modality.decode(example.path.read_bytes(), example.name))
    sheet = workspace_root / SHEETS / f"{_source_key(path)}.png"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    plot_contact_sheet(modality, dict(by_class), sheet)
    clips = _write_recordings(modality, dict(by_class), workspace_root / CLIPS / _source_key(path))

    repeats, conflicts = _copies(media.examples)
    problems = []
    if media.skipped:
        problems.append(
            {
                "code": "skipped_files",
                "count": len(media.skipped),
                "rows": [],
                "message": media.skipped_sentence() or "",
                "files": [{"name": s.name, "reason": s.reason} for s in media.skipped[:NAMES_LISTED]],
            }
        )
    if conflicts:
        names = ", ".join(
            f"'{group[0].name}' ({group[0].label}) = '{group[1].name}' ({group[1].label})" for group in conflicts[:3]
        )
        problems.append(
            {
                "code": "same_file_different_labels",
                "count": len(conflicts),
                "rows": [],
                "message": f"{len(conflicts)} files appear under more than one class ({names}); keep each in its one "
                "right class folder.",
            }
        )
    if repeats:
        names = ", ".join(f"'{example.name}'" for example in repeats[:3])
        problems.append(
            {
                "code": "duplicate_files",
                "count": len(repeats),
                "rows": [],
                "message": f"{len(repeats)} files are exact copies of another file of the same class ({names}); "
                "training keeps one of each, so no copy is both trained on and tested.",
            }
        )
    notes = list(media.notes)
    if step > 1:
        notes.append(f"The file facts above describe {len(sample)} of the {total} files, every {step}th.")
    return {
        "usable_rows": total,
        "label_column": "label",
        "labels": [
            {"label": label, "count": count, "share": round(count / total, 4)}
            for label, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ],
        "num_classes": len(counts),
        "media_facts": modality.describe(sample),
        "skipped_files": [{"name": s.name, "reason": s.reason} for s in media.skipped[:NAMES_LISTED]],
        "duplicates": {"count": len(repeats), "files": [e.name for e in repeats[:NAMES_LISTED]]},
        "conflicting_duplicates": {
            "count": len(conflicts),
            "files": [[e.name for e in group] for group in conflicts[:NAMES_LISTED]],
        },
        "contact_sheet_png": str(sheet),
        **({"clips": clips} if clips else {}),
        "samples": [{"file": e.name, "label": e.label} for e in media.examples[:3]],
        "problems": problems,
        "notes": notes,
    }


def _write_recordings(modality: Modality, by_class: dict[str, list[Any]], folder: Path) -> list[str]:
    """The first recording of each of the first classes, as WAVs named after their class, for the chat to play."""
    import re

    written = []
    for index, label in enumerate(sorted(by_class)[:CLIPS_OFFERED]):
        data = modality.recording(by_class[label][0]) if by_class[label] else None
        if data is None:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{index + 1}-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)[:40]}.wav"
        target.write_bytes(data)
        written.append(str(target))
    return written


def _copies(examples: list[MediaExample]) -> tuple[list[MediaExample], list[list[MediaExample]]]:
    """(files that repeat an earlier one of the same class, groups of identical files under different classes)."""
    groups: dict[str, list[MediaExample]] = defaultdict(list)
    for example in examples:
        groups[example.digest].append(example)
    repeats, conflicts = [], []
    for group in groups.values():
        seen: set[str] = set()
        for example in group:
            if example.label in seen:
                repeats.append(example)
            seen.add(example.label)
        if len(seen) > 1:
            conflicts.append(group)
    return repeats, conflicts


def _source_key(path: Path) -> str:
    import hashlib

    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
