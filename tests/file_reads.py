"""Which files the process opens for reading, from the interpreter's own "open" audit events: what really
reaches the disk, not what any function of ours says it did."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_reads: list[str] = []
_watching: list[bool] = []
_installed: list[bool] = []


def _note_reads(event: str, args: tuple[object, ...]) -> None:
    # Audit hooks stay installed for the process's life; this one records only while a test watches.
    if _watching and event == "open" and isinstance(args[0], str) and args[1] in ("r", "rb"):
        _reads.append(str(Path(args[0]).resolve()))


@contextmanager
def watching_reads() -> Iterator[list[str]]:
    """The resolved paths opened for reading inside the block, in order (the list fills as files are opened)."""
    if not _installed:  # installed on first use, so runs that never watch pay nothing per event
        sys.addaudithook(_note_reads)
        _installed.append(True)
    _reads.clear()
    _watching.append(True)
    try:
        yield _reads
    finally:
        _watching.clear()
