"""Unpack an uploaded zip of media files once, safely, into the workspace (the upload itself stays a zip).

The archive goes through the same guards as every zip tunechat reads (trainer/data/containers.py: no `..` or
absolute names, no encryption, size and compression-ratio limits) before one byte is written. It is unpacked into
a temporary folder next to its destination and renamed, so `prepared/media-<hash>/` is either complete or absent;
the hash of the archive's bytes names it, so the same upload is unpacked once however often it is read.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from trainer.data.containers import check_size, open_zip, read_entry

# Under the workspace root: folders tunechat writes from uploads (never a place the data itself names).
PREPARED = "prepared"


def archive_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def unpacked_folder(path: Path, workspace_root: Path) -> Path:
    """The folder holding the zip's files (unpacked on first use), under <root>/prepared/media-<hash>/."""
    path = Path(path)
    check_size(path)
    target = workspace_root / PREPARED / f"media-{archive_hash(path)}"
    if target.is_dir():
        return target
    archive, files = open_zip(path, path.read_bytes())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".media-", dir=target.parent))
    try:
        # Folders too, so an empty class folder is seen (and named) like one in an uploaded folder.
        for info in archive.infolist():
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.is_dir() and parts and not any(part.startswith(".") for part in parts) and parts[0] != "__MACOSX":
                staging.joinpath(*parts).mkdir(parents=True, exist_ok=True)
        for info in files:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if any(part.startswith(".") for part in parts) or parts[0] == "__MACOSX":
                continue
            destination = staging.joinpath(*parts)
            # open_zip refused names that climb out; this checks the joined path too (a name like "a/../../b").
            if not destination.resolve().is_relative_to(staging.resolve()):
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(read_entry(archive, info, path.name))
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # another process unpacked the same archive first: use its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
