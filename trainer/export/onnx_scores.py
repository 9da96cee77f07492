"""Classifiers and regressors as parity responders: the run's own predictor in this process, and its ONNX export
in onnxruntime, each answering {label: probability} per input ({"value": prediction} for a regressor).

The trained side is exactly what `tunechat serve` answers with (Predictor, Regressor, the media Classifier). The
exported side reads only the export folder: its graph, its labels and preprocessing (inference.json), its
tokenizer or feature extractor; so an export whose labels or preprocessing went wrong answers differently.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.core.fileio import read_json
from trainer.export.onnx_graph import run_session, session, softmax
from trainer.export.onnx_inputs import SETTINGS, AudioInputs, ImageInputs, Inputs, TextInputs

# Inputs per onnxruntime call, as the run's predictors batch them.
BATCH = 32


def _ranked(labels: Sequence[str], row: Sequence[float]) -> dict[str, float]:
    return {label: float(score) for label, score in zip(labels, row, strict=True)}


def _split(items: Sequence[Any], pairs: bool) -> tuple[list[str], list[str] | None]:
    if pairs:
        return [str(a) for a, _ in items], [str(b) for _, b in items]
    return [str(item) for item in items], None


class TrainedText:
    """The run's text classifier or regressor (trainer/tasks/text_classification/predict.py), loaded once."""

    def __init__(self, predictor: Any, regression: bool):
        self.predictor, self.regression = predictor, regression
        self.label = "trained model (transformers)"
        # True when the run trained on text pairs: its inputs are (text, text pair) tuples.
        self.pairs = bool(predictor.pairs)

    @classmethod
    def from_run(cls, run_dir: Path) -> TrainedText:
        from trainer.tasks.text_classification.predict import Predictor, load_run_model
        from trainer.tasks.text_regression.predict import Regressor

        loaded = load_run_model(run_dir)
        regression = is_regression(loaded.model)
        kind = Regressor if regression else Predictor
        predictor = kind(loaded.model, loaded.tokenizer, loaded.max_length, loaded.run_id, loaded.pairs)
        return cls(predictor, regression)

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        texts, pairs = _split(inputs, self.pairs)
        answers = self.predictor.predict(texts, batch_size=BATCH, pairs=pairs)
        if self.regression:
            return [{"value": float(answer["score"])} for answer in answers]
        return [{entry["label"]: float(entry["score"]) for entry in answer} for answer in answers]


class OnnxScores:
    """An ONNX export in onnxruntime, its inputs prepared from its own folder."""

    def __init__(self, folder: Path, inputs: Inputs, decode: Any = None):
        self.folder, self.inputs, self.decode = Path(folder), inputs, decode
        self.settings = read_json(self.folder / SETTINGS)
        self.labels: list[str] = [str(label) for label in self.settings.get("labels") or []]
        self.graph = session(self.folder)
        self.label = "ONNX export (onnxruntime)"

    @classmethod
    def text(cls, folder: Path) -> OnnxScores:
        return cls(folder, TextInputs.from_folder(folder))

    @classmethod
    def media(cls, folder: Path, modality: Any) -> OnnxScores:
        """An image or audio export; `modality` decodes the files as the run decoded them."""
        settings = read_json(Path(folder) / SETTINGS)
        preprocessing = settings["preprocessing"]
        inputs: Inputs
        if settings["input"] == "audio":
            inputs = AudioInputs.from_folder(folder, float(preprocessing["clip_seconds"]))
        else:
            inputs = ImageInputs(preprocessing)
        return cls(folder, inputs, modality.decode)

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        rows: list[dict[str, float]] = []
        for start in range(0, len(inputs), BATCH):
            chunk = list(inputs[start : start + BATCH])
            if self.decode is not None:
                chunk = [self.decode(Path(os.fspath(item)).read_bytes(), str(item)) for item in chunk]
            output = run_session(self.graph, self.inputs(chunk))
            if self.settings.get("output") == "value":
                rows += [{"value": float(value)} for value in output.reshape(-1)]
            else:
                rows += [_ranked(self.labels, row) for row in softmax(output).tolist()]
        return rows


def is_regression(model: Any) -> bool:
    """True for a one-number head trained as regression (what the text regression task saves)."""
    return getattr(model.config, "problem_type", None) == "regression"


def regression_scale(model: Any) -> tuple[float, float]:
    """The target's training mean and deviation the model's outputs are scaled back with (predict.Regressor's)."""
    mean = float(getattr(model.config, "target_mean", 0.0) or 0.0)
    std = float(getattr(model.config, "target_std", 1.0) or 1.0)
    return mean, std
