"""runs/run-N/predictions.jsonl: one line per test example, in test-split order, written whole or not at all.

Classification: {"input", "label", "predicted", "confidence" (the probability of the predicted label),
"correct"}, text pairs add "input_pair". Regression: {"input", "target", "predicted", "error"} with
error = predicted - target. Comparisons of two runs read it to find the examples that flipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_text, read_jsonl

FILE_NAME = "predictions.jsonl"


def _write(run_dir: Path, rows: list[dict[str, Any]]) -> Path:
    path = run_dir / FILE_NAME
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def write_classification(
    run_dir: Path,
    inputs: Sequence[str],
    labels: Sequence[str],
    predicted: Sequence[str],
    confidences: Sequence[float],
    pairs: Sequence[str] | None = None,
) -> Path:
    rows = [
        {
            "input": inputs[i],
            **({"input_pair": pairs[i]} if pairs is not None else {}),
            "label": labels[i],
            "predicted": predicted[i],
            "confidence": round(float(confidences[i]), 6),
            "correct": labels[i] == predicted[i],
        }
        for i in range(len(inputs))
    ]
    return _write(run_dir, rows)


def write_regression(
    run_dir: Path,
    inputs: Sequence[str],
    targets: Sequence[float],
    predicted: Sequence[float],
    pairs: Sequence[str] | None = None,
) -> Path:
    rows = [
        {
            "input": inputs[i],
            **({"input_pair": pairs[i]} if pairs is not None else {}),
            "target": float(targets[i]),
            "predicted": float(predicted[i]),
            "error": float(predicted[i]) - float(targets[i]),
        }
        for i in range(len(inputs))
    ]
    return _write(run_dir, rows)


def read_predictions(run_dir: Path) -> list[dict[str, Any]]:
    """A run's per-example test predictions ([] for a run that has none)."""
    return read_jsonl(Path(run_dir) / FILE_NAME)
