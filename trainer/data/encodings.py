"""A user's file as bytes and as text: refused when it is something else (an image, a workbook, binary),
decoded as UTF-8 (with or without BOM), UTF-16, or else Windows-1252/Latin-1."""

from __future__ import annotations

import re
from pathlib import Path

from trainer.core.errors import UserError
from trainer.data.containers import check_size

FORMATS_HINT = "a CSV, TSV, JSONL or JSON file of labelled texts"
EXCEL_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods")

# File signatures of formats people upload by mistake, so the message can say what the file is.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office document"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x9f]")


def read_bytes(path: Path) -> bytes:
    """The file's bytes, after refusing a missing file, a folder and a file over the upload limit."""
    try:
        check_size(path)
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"There is no file '{path.name}'; upload it again or check the name.") from None
    except IsADirectoryError:
        raise UserError(f"'{path.name}' is a folder, not a file; upload {FORMATS_HINT}.") from None


def decode(path: Path, raw: bytes) -> tuple[str, str]:
    """(text, encoding name) of a file's bytes; UserError when they are not text a user meant to upload."""
    if not raw:
        raise UserError(f"'{path.name}' is empty (0 bytes); upload a file with a header row and labelled texts.")
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) and path.suffix.lower() in EXCEL_SUFFIXES:
        raise UserError(
            f"'{path.name}' is a spreadsheet workbook; save it as CSV from your spreadsheet and upload that."
        )
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            raise UserError(f"'{path.name}' is {kind}, not a text file; upload {FORMATS_HINT}.")

    text, encoding = _decode_bytes(raw)
    if text is None or len(_CONTROL.findall(text[:65536])) > 0.02 * min(len(text), 65536):
        raise UserError(f"'{path.name}' looks like a binary file, not text; upload {FORMATS_HINT}.")
    if not text.strip():
        raise UserError(f"'{path.name}' contains only blank space; upload a file with a header row and labelled texts.")
    return text, encoding


def _decode_bytes(raw: bytes) -> tuple[str | None, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None, ""
    head = raw[:4096]
    if b"\x00" in head:
        # UTF-16 without a BOM shows as every other byte being zero; anything else with NULs is binary.
        even, odd = head[0::2], head[1::2]
        for codec, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if zeros.count(0) > 0.3 * len(zeros) and other.count(0) < 0.05 * max(1, len(other)):
                try:
                    return raw.decode(codec), codec
                except UnicodeDecodeError:
                    break
        return None, ""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Mostly UTF-8 with a few broken bytes: keep the UTF-8 rather than turn every accent into mojibake.
    lenient = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    broken = lenient.count("\ufffd")
    valid_non_ascii = sum(1 for ch in lenient if ord(ch) > 127) - broken
    if valid_non_ascii > 2 * broken:
        return lenient, "utf-8 (with undecodable bytes replaced)"
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"
