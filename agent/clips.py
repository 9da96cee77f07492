"""Which recordings a tool result may offer to play in the chat: only the WAVs tunechat writes itself.

The inspection of sound files writes the first recording of a few classes as 16-bit WAVs into the workspace's
prepared/clips/ folder (trainer/tasks/media/report.py). A recording is taken only from that tool's known
top-level key, only when it is a WAV file inside that folder (links resolved first), and every room checks the
same way again before it plays a stored one; a path that data names is never played.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.workspace import Workspace

# The tools that write recordings, and the keys of their results that list them.
CLIP_KEYS: dict[str, tuple[str, ...]] = {"inspect_data": ("clips",)}
# Where the inspection writes them, under the workspace root (trainer/tasks/media/report.py CLIPS).
CLIP_FOLDER = ("prepared", "clips")
# Recordings taken from one result at most.
MAX_CLIPS = 8


def clip_folder(workspace: Workspace) -> Path:
    return workspace.root.joinpath(*CLIP_FOLDER).resolve()


def is_wav(head: bytes) -> bool:
    """True for the first 12 bytes of a RIFF WAVE file."""
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def shown_clip(path: str | Path, workspace: Workspace) -> Path | None:
    """The real path of `path` if it is a WAV file inside the clip folder (links resolved first), else None."""
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not resolved.is_relative_to(clip_folder(workspace)) or not resolved.is_file():
        return None
    try:
        with resolved.open("rb") as file:
            head = file.read(12)
    except OSError:
        return None
    return resolved if is_wav(head) else None


def result_clips(tool: str, result: Mapping[str, Any], workspace: Workspace) -> list[str]:
    """The recordings a tool's result lists under its known keys (top level only), as checked real paths."""
    found: list[str] = []
    for key in CLIP_KEYS.get(tool, ()):
        values = result.get(key)
        for value in values[:MAX_CLIPS] if isinstance(values, list) else []:
            clip = shown_clip(value, workspace) if isinstance(value, str) and value else None
            if clip is not None and str(clip) not in found:
                found.append(str(clip))
    return found
