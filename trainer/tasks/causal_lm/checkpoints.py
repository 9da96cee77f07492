"""Checkpoints that are trusted only once complete.

The Trainer writes checkpoint-N/ file by file; a kill during the save leaves a partial folder. Only
after the save returned (on_save) is `tunechat-complete.json` written, atomically, into the folder;
resume picks the newest folder with that marker and deletes the unmarked ones.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from trainer.core.fileio import atomic_write_json

MARKER = "tunechat-complete.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """All checkpoint-N folders, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return sorted(found)


def latest_complete(folder: Path) -> tuple[int, Path] | None:
    done = [(step, path) for step, path in checkpoints(folder) if (path / MARKER).is_file()]
    return done[-1] if done else None


def remove_incomplete(folder: Path) -> list[str]:
    """Delete checkpoint folders without the marker (killed mid-save); return their names."""
    removed = []
    for _, path in checkpoints(folder):
        if not (path / MARKER).is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


class CompleteMarker(TrainerCallback):
    """Writes the marker once the Trainer has finished saving a checkpoint; saves at the final step too."""

    def __init__(self, output_dir: Path):
        self.output_dir = Path(output_dir)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= state.max_steps:
            control.should_save = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        path = self.output_dir / f"checkpoint-{state.global_step}"
        if (path / "trainer_state.json").is_file():
            atomic_write_json(path / MARKER, {"step": state.global_step, "saved_at": time.time()})
