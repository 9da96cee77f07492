"""Which images a tool result may show in the chat: only the plots tunechat draws itself.

Tool results also carry raw data (inspection and prepare samples), and a data file can name any path in a
column called `plot` or `x_png`. So an image is taken only from the known top-level keys of the tools that
draw plots, and only when it is a PNG file inside the workspace's runs/, comparisons/ or contact-sheet folder;
every room checks the same way again before it shows a stored image (an old chat may name a file that changed since).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.clips import result_clips
from trainer.core.workspace import Workspace

# The tools that draw plots, and the keys of their results that name one.
IMAGE_KEYS: dict[str, tuple[str, ...]] = {
    "evaluate_run": ("confusion_matrix_png", "scatter_png", "loss_png", "mistakes_png"),
    "compare_runs": ("plot",),
    "explain_comparison": ("plot",),
    "inspect_data": ("contact_sheet_png",),
    "search_status": ("plot",),
    "stop_search": ("plot",),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Where trainer/evaluate/compare.py writes the plot of a comparison, under the workspace root.
COMPARISONS = "comparisons"
# Where the inspection of media files draws their contact sheets (trainer/tasks/media/report.py SHEETS); uploads
# are unpacked beside it, under prepared/media-<hash>/, which is not shown.
CONTACT_SHEETS = ("prepared", "contact-sheets")


def image_folders(workspace: Workspace) -> list[Path]:
    """The folders whose PNG files the chat may show: the run folders, the comparison plots, the contact sheets."""
    return [
        workspace.runs.resolve(),
        (workspace.root / COMPARISONS).resolve(),
        workspace.root.joinpath(*CONTACT_SHEETS).resolve(),
    ]


def shown_image(path: str | Path, workspace: Workspace) -> Path | None:
    """The real path of `path` if it is a PNG file inside the image folders (links resolved first), else None."""
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not any(resolved.is_relative_to(folder) for folder in image_folders(workspace)) or not resolved.is_file():
        return None
    try:
        with resolved.open("rb") as file:
            head = file.read(len(PNG_SIGNATURE))
    except OSError:
        return None
    return resolved if head == PNG_SIGNATURE else None


def result_images(tool: str, result: Mapping[str, Any], workspace: Workspace) -> list[str]:
    """The plots a tool's result names under its known keys (top level only), as checked real paths, then the
    recordings it offers to play (agent/clips.py): a reply's media, shown in that order."""
    found: list[str] = []
    for key in IMAGE_KEYS.get(tool, ()):
        value = result.get(key)
        image = shown_image(value, workspace) if isinstance(value, str | Path) and value else None
        if image is not None and str(image) not in found:
            found.append(str(image))
    return found + [clip for clip in result_clips(tool, result, workspace) if clip not in found]
