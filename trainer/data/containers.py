"""Containers beyond delimited text and JSON: Parquet, Hugging Face `save_to_disk` folders, folders of
images or audio (one subfolder per class), and zip archives of any of these.

Zip archives are read in memory and never extracted: an entry whose name climbs out of the archive
(`../`, an absolute path, a drive letter) is refused, and so is an archive that would inflate past
the size limit or with a compression ratio only a zip bomb has, before anything is decompressed.
"""

from __future__ import annotations

import io
import lzma
import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from trainer.core.errors import UserError
from trainer.data.columnar import records_from_arrow
from trainer.data.limits import check_inflated

DATA_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".json", ".jsonl", ".ndjson", ".parquet")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus", ".aac")
SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
# What zipfile and its decompressors raise for a damaged or forged entry.
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OSError,
)
MAX_ENTRIES = 100_000
MAX_RATIO = 200  # text compresses ~3-10x, even very repetitive CSVs stay below ~100x; bombs reach 1000x+
DEFAULT_LIMIT_MB = 512.0


def size_limit_bytes() -> int:
    """The configured limit for one upload and for what an archive may inflate to."""
    return int(float(os.environ.get("TUNECHAT_MAX_UPLOAD_MB", DEFAULT_LIMIT_MB)) * 1e6)


def check_size(path: Path) -> None:
    limit = size_limit_bytes()
    size = path.stat().st_size
    if size > limit:
        raise UserError(
            f"'{path.name}' is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit; use a smaller file or "
            "raise TUNECHAT_MAX_UPLOAD_MB."
        )


def split_of(name: str) -> str | None:
    """'train', 'validation' or 'test' when a file or folder name says so (train.csv, dev.jsonl, test/)."""
    stem = PurePosixPath(name).stem.lower()
    for part in (stem, *stem.replace("-", "_").split("_")):
        if part in SPLIT_NAMES:
            return SPLIT_NAMES[part]
    return None


# ------------------------------------------------------------------------------------------ records


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (
        (path / "dataset_dict.json").is_file()
        or ((path / "state.json").is_file() and (path / "dataset_info.json").is_file())
    )


def load_hf_folder(path: Path) -> dict[str, list[dict[str, Any]]]:
    """A `save_to_disk` folder as {split: records}; a single Dataset is the 'train' split."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as error:
        raise UserError(
            f"'{path.name}' looks like a Hugging Face dataset folder but cannot be loaded "
            f"({str(error).splitlines()[0][:120]}); save it again with save_to_disk."
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        return {name: records_from_arrow(split.data.table, path.name) for name, split in loaded.items()}
    return {"train": records_from_arrow(loaded.data.table, path.name)}


def media_records(root_name: str, files: list[str]) -> tuple[str, list[dict[str, Any]]] | None:
    """Files laid out as <class>/<file>: ('image'|'audio', [{path, label}]) or None."""
    for kind, suffixes in (("image", IMAGE_SUFFIXES), ("audio", AUDIO_SUFFIXES)):
        chosen = [f for f in files if f.lower().endswith(suffixes)]
        if chosen and len(chosen) >= 0.8 * len(files):
            records = []
            for name in chosen:
                parts = PurePosixPath(name).parts
                if len(parts) < 2:
                    return None  # files not in class folders: there is no label
                records.append({kind: f"{root_name}/{name}", "label": parts[-2]})
            return kind, records
    return None


def load_media_folder(path: Path) -> tuple[str, list[dict[str, Any]]] | None:
    files = [
        p.relative_to(path).as_posix()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    return media_records(path.name, files) if files else None


# ------------------------------------------------------------------------------------------ zip


def _unsafe(name: str) -> bool:
    normal = name.replace("\\", "/")
    parts = PurePosixPath(normal).parts
    return normal.startswith("/") or (len(normal) > 1 and normal[1] == ":") or ".." in parts


def open_zip(path: Path, raw: bytes) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The archive and its file entries, after refusing unsafe names, encryption and zip bombs."""
    name = path.name
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = archive.infolist()
    except ZIP_READ_ERRORS:
        raise UserError(f"'{name}' is a damaged ZIP archive; create the archive again and upload it.") from None
    if len(infos) > MAX_ENTRIES:
        raise UserError(f"'{name}' holds {len(infos):,} entries, more than {MAX_ENTRIES:,}; upload fewer files.")
    for info in infos:
        if _unsafe(info.filename):
            raise UserError(
                f"'{name}' contains the entry '{info.filename[:80]}', which points outside the archive; "
                "nothing was extracted, so re-create the archive with plain relative paths."
            )
    files = [
        i
        for i in infos
        if not i.is_dir()
        and not i.filename.startswith("__MACOSX/")
        and not PurePosixPath(i.filename).name.startswith(".")
    ]
    limit = size_limit_bytes()
    total = sum(i.file_size for i in files)
    if total > limit:
        raise UserError(
            f"'{name}' would unpack to {total / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit; "
            "upload a smaller archive or raise TUNECHAT_MAX_UPLOAD_MB."
        )
    check_inflated(name, total)
    for info in files:
        if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise UserError(
                f"'{name}' looks like a zip bomb ('{info.filename[:60]}' inflates {info.file_size / 1e6:.0f} MB from "
                f"{info.compress_size / 1e3:.0f} kB); nothing was unpacked, so upload the data file itself."
            )
        if info.flag_bits & 0x1:
            raise UserError(f"'{name}' is password-protected; upload an archive without a password.")
    return archive, files


def read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_name: str) -> bytes:
    """An entry's bytes, stopping at its declared size: a forged header cannot make it inflate further."""
    try:
        with archive.open(info) as handle:
            data = handle.read(info.file_size + 1)
    except ZIP_READ_ERRORS as error:
        # A damaged or forged entry: a bad header or checksum, a method or version zipfile cannot read.
        reason = str(error).strip().splitlines()[0][:80] if str(error).strip() else type(error).__name__
        raise UserError(
            f"'{archive_name}' has an entry that cannot be read ('{info.filename[:60]}': {reason}); create the "
            "archive again and upload it."
        ) from None
    if len(data) > info.file_size:
        raise UserError(f"'{archive_name}' has an entry larger than its header says; upload the data file itself.")
    return data


def zip_contents(path: Path, raw: bytes) -> dict[str, Any]:
    """What a zip holds, as one of:
    {"kind": "file", "name", "raw"}, {"kind": "splits", "files": {split: (name, raw)}},
    {"kind": "arrow", "splits": {split: [raw, ...]}}, {"kind": "media", "media": kind, "records": [...]}.
    """
    archive, files = open_zip(path, raw)
    names = [i.filename for i in files]
    if not names:
        raise UserError(f"'{path.name}' is an empty archive; put the data file in it and upload it again.")
    if any(n.lower().endswith(".zip") for n in names):
        raise UserError(f"'{path.name}' holds another archive; unpack the inner one and upload it directly.")
    media = media_records(path.name, names)
    if media:
        return {"kind": "media", "media": media[0], "records": media[1]}
    arrow = [i for i in files if i.filename.endswith(".arrow")]
    if arrow:
        splits: dict[str, list[bytes]] = {}
        for info in arrow:
            parent = PurePosixPath(info.filename).parent.name
            split = split_of(parent) or "train"
            splits.setdefault(split, []).append(read_entry(archive, info, path.name))
        return {"kind": "arrow", "splits": splits}
    data = [i for i in files if i.filename.lower().endswith(DATA_SUFFIXES)]
    if not data:
        shown = ", ".join(names[:5])
        raise UserError(
            f"'{path.name}' holds no data file tunechat reads ({shown}); put a CSV, TSV, JSON, JSONL or Parquet "
            "file in it."
        )
    if len(data) == 1:
        return {"kind": "file", "name": data[0].filename, "raw": read_entry(archive, data[0], path.name)}
    by_split: dict[str, tuple[str, bytes]] = {}
    for info in data:
        found = split_of(info.filename)
        if found is None or found in by_split:
            shown = ", ".join(i.filename for i in data[:6])
            raise UserError(
                f"'{path.name}' holds several data files ({shown}); upload one file, or name them train, "
                "validation and test."
            )
        by_split[found] = (info.filename, read_entry(archive, info, path.name))
    if "train" not in by_split:
        raise UserError(f"'{path.name}' holds {', '.join(sorted(by_split))} files but no train file; add train.")
    return {"kind": "splits", "files": by_split}


def json_columns(document: Any) -> list[dict[str, Any]] | None:
    """{"text": [...], "label": [...]}: columns of equal-length lists, as records."""
    if not isinstance(document, dict) or not document:
        return None
    values = list(document.values())
    if not all(isinstance(v, list) for v in values):
        return None
    length = len(values[0])
    if length == 0 or any(len(v) != length for v in values):
        return None
    # Only scalar cells: a single JSON line whose fields hold message lists is one record, not columns.
    if not all(isinstance(x, str | int | float | bool) or x is None for column in values for x in column):
        return None
    keys = [str(k) for k in document]
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]
