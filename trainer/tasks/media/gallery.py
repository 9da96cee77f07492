"""Pictures of media files for the chat: the worst mistakes of a run, and a contact sheet of an upload.

Each file is drawn by its modality's `preview` (a thumbnail of an image, a waveform of a sound), so both pictures
work for every modality. They are PNGs written by tunechat into folders it owns, the only images the chat shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.evaluate.plots import _save

if TYPE_CHECKING:
    from trainer.tasks.media.modality import Modality

THUMBNAIL = 96
GALLERY_SIZE = 12
SHEET_PER_CLASS = 8
SHEET_CLASSES = 20


def _show(axes: Any, picture: Any) -> None:
    import numpy as np

    axes.imshow(np.asarray(picture.convert("RGB")))
    axes.set_xticks([])
    axes.set_yticks([])


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_mistakes(
    modality: Modality, mistakes: Sequence[tuple[Any, str, str, float]], path: Path, columns: int = 4
) -> Path:
    """A grid of (item, true label, predicted label, confidence), most confident mistakes first."""
    from matplotlib.figure import Figure

    shown = list(mistakes)[:GALLERY_SIZE]
    rows = max(1, -(-len(shown) // columns))
    figure = Figure(figsize=(columns * 2.0, rows * 2.35))
    figure.suptitle(
        "Worst mistakes on the test split (most confident first)" if shown else "No mistakes on the test split"
    )
    for index in range(rows * columns):
        axes = figure.add_subplot(rows, columns, index + 1)
        if index >= len(shown):
            axes.axis("off")
            continue
        item, truth, predicted, confidence = shown[index]
        _show(axes, modality.preview(item, THUMBNAIL))
        axes.set_title(f"true: {_short(truth)}\npredicted: {_short(predicted)} ({confidence:.2f})", fontsize=8)
    return _save(figure, path)


def plot_contact_sheet(modality: Modality, by_class: dict[str, list[Any]], path: Path) -> Path:
    """A row of thumbnails per class (the first few files of each), the class named at the left."""
    from matplotlib.figure import Figure

    classes = sorted(by_class)[:SHEET_CLASSES]
    columns = max(1, min(SHEET_PER_CLASS, max((len(by_class[c]) for c in classes), default=1)))
    figure = Figure(figsize=(columns * 1.3 + 1.2, max(1, len(classes)) * 1.35))
    for row, label in enumerate(classes):
        items = by_class[label][:columns]
        for column in range(columns):
            axes = figure.add_subplot(max(1, len(classes)), columns, row * columns + column + 1)
            if column < len(items):
                _show(axes, modality.preview(items[column], THUMBNAIL))
            else:
                axes.axis("off")
            if column == 0:
                axes.set_ylabel(_short(label, 14), rotation=0, ha="right", va="center", fontsize=9)
    return _save(figure, path)
