"""PNG plots of a run: the confusion matrix, predicted against true values, and loss curves (one run or several
runs compared).

Figures are built with matplotlib's object API on the Agg canvas, never pyplot, so plotting from a
web server thread touches no global state; every PNG is written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from trainer.core.fileio import atomic_write_bytes  # noqa: E402

# Suffixes that mark a curve as validation loss (dashed) or training loss, for pairing colours by run.
_EVAL_SUFFIXES = ("validation loss", "validation", "eval loss", "eval")
_TRAIN_SUFFIXES = ("training loss", "train loss", "training", "train")


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def plot_confusion_matrix(cm: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Path:
    """Counts of true (rows) against predicted (columns) labels, with each cell's count written in it."""
    n = len(labels)
    size = min(14.0, max(4.0, 0.6 * n + 2.5))
    figure = Figure(figsize=(size, size * 0.85))
    axes = figure.subplots()
    image = axes.imshow(cm, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(n), labels=[str(label) for label in labels], rotation=45 if n > 4 else 0, ha="right")
    axes.set_yticks(range(n), labels=[str(label) for label in labels])
    axes.set_xlabel("Predicted label")
    axes.set_ylabel("True label")
    axes.set_title("Confusion matrix (test split)")
    if n <= 30:  # beyond that, numbers would overlap
        peak = max((max(row) for row in cm), default=0)
        for i, row in enumerate(cm):
            for j, count in enumerate(row):
                colour = "white" if peak and count > peak / 2 else "black"
                axes.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=9)
    return _save(figure, path)


def plot_predicted_vs_true(y_true: Sequence[float], y_pred: Sequence[float], path: Path, baseline: float) -> Path:
    """Each test example as a point (true value across, prediction up), the line of perfect predictions, and the
    training mean a baseline would always predict."""
    figure = Figure(figsize=(5.5, 5.0))
    axes = figure.subplots()
    low = min(min(y_true, default=0.0), min(y_pred, default=0.0))
    high = max(max(y_true, default=1.0), max(y_pred, default=1.0))
    axes.scatter(y_true, y_pred, s=12, alpha=0.6, color="tab:blue", label="test examples")
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="perfect prediction")
    axes.axhline(baseline, color="tab:gray", linestyle="--", linewidth=1, label="training mean (baseline)")
    axes.set_xlabel("True value")
    axes.set_ylabel("Predicted value")
    axes.set_title("Predicted vs true (test split)")
    axes.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def _split_name(name: str) -> tuple[str, bool]:
    """('run 3', True) for 'run 3 validation'; ('', False) for 'training loss'."""
    lower = name.lower().rstrip()
    for suffixes, is_eval in ((_EVAL_SUFFIXES, True), (_TRAIN_SUFFIXES, False)):
        for suffix in suffixes:
            if lower.endswith(suffix):
                return name[: len(lower) - len(suffix)].strip(" -:()"), is_eval
    return name.strip(), False


def plot_loss_curves(curves: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path:
    """Loss against step for each named curve.

    A curve whose name ends with "validation" / "validation loss" / "eval" is drawn dashed in the colour
    of the curve with the same prefix, so {"run 3": ..., "run 3 validation": ...} or
    {"training loss": ..., "validation loss": ...} pair up.
    """
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.subplots()
    colours: dict[str, str] = {}
    palette = [f"C{i}" for i in range(10)]
    drawn = 0
    for name, points in curves.items():
        if not points:
            continue
        base, is_eval = _split_name(name)
        colour = colours.setdefault(base, palette[len(colours) % len(palette)])
        steps = [step for step, _ in points]
        values = [value for _, value in points]
        axes.plot(
            steps,
            values,
            linestyle="--" if is_eval else "-",
            marker="o" if is_eval or len(points) == 1 else None,
            markersize=4,
            color=colour,
            label=name,
        )
        drawn += 1
    if drawn == 0:
        axes.text(0.5, 0.5, "no loss values logged", ha="center", va="center", transform=axes.transAxes)
    else:
        axes.legend(loc="best", fontsize=9)
    axes.set_xlabel("Training step")
    axes.set_ylabel("Loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return _save(figure, path)
