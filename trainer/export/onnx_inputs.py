"""What an ONNX export's graph takes, made from its own folder: tokens for text, pixels for images, features for sounds.

Each kind reads only the export folder (the tokenizer files, preprocess settings and feature extractor copied there),
and prepares inputs exactly as the run's own predictor does (trainer/tasks/text_classification/predict.py,
image_classification/model.py, audio_classification/model.py), so the parity check proves the folder is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainer.core.fileio import read_json

SETTINGS = "inference.json"


class Inputs(Protocol):
    """Prepared inputs of one kind: `example()` is a batch of two for tracing the graph."""

    dynamic: dict[int, str]  # the axes of every input that vary: batch, and the text length for tokens
    longest: int | None  # the most positions the sequence axis may have

    def __call__(self, items: Sequence[Any]) -> dict[str, np.ndarray]: ...

    def example(self) -> dict[str, np.ndarray]: ...


class TextInputs:
    """Token ids (and attention mask, token types) for texts or (text, text) pairs, cut at the run's max length."""

    dynamic = {0: "batch", 1: "sequence"}
    longest: int | None

    def __init__(self, tokenizer: Any, max_length: int, pairs: bool, longest: int | None = None):
        self.tokenizer, self.max_length, self.pairs, self.longest = tokenizer, max_length, pairs, longest

    @classmethod
    def from_folder(cls, folder: Path) -> TextInputs:
        from transformers import AutoTokenizer

        settings = read_json(Path(folder) / SETTINGS)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return cls(tokenizer, int(settings["max_length"]), bool(settings.get("pairs")))

    def __call__(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        if self.pairs:
            first, second = [str(a) for a, _ in items], [str(b) for _, b in items]
        else:
            first, second = [str(item) for item in items], None
        encoded = self.tokenizer(
            first, second, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items()}

    def example(self) -> dict[str, np.ndarray]:
        # Two rows, one padded, longer than two tokens: torch.export must not take the batch or the length for a
        # constant (it specialises sizes 0 and 1, and two axes of equal size would be tied together).
        texts = ["an example text to trace the graph with, long enough to be cut", "a short one"]
        items: list[Any] = [(text, text) for text in texts] if self.pairs else texts
        length = max(3, min(16, self.max_length))
        first = [a for a, _ in items] if self.pairs else items
        second = [b for _, b in items] if self.pairs else None
        encoded = self.tokenizer(
            first, second, padding="max_length", truncation=True, max_length=length, return_tensors="np"
        )
        return {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items()}


class ImageInputs:
    """Pixels as the run evaluated them: the centre square resized to the image size, normalised (batch, 3, S, S)."""

    dynamic = {0: "batch"}
    longest: int | None = None

    def __init__(self, preprocessing: dict[str, Any]):
        self.size = int(preprocessing["image_size"])
        self.mean, self.std = preprocessing["image_mean"], preprocessing["image_std"]

    def __call__(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        from trainer.tasks.image_classification.pictures import pixel_batch

        return {"pixel_values": pixel_batch(list(items), self.size, self.mean, self.std, train=False)}

    def example(self) -> dict[str, np.ndarray]:
        return {"pixel_values": np.zeros((2, 3, self.size, self.size), dtype=np.float32)}


class AudioInputs:
    """The feature extractor's inputs for clips padded or cut to the run's clip length, at the extractor's rate."""

    dynamic = {0: "batch"}
    longest: int | None = None

    def __init__(self, processor: Any, config: Any, clip_seconds: float):
        from trainer.tasks.audio_classification.sounds import RATE

        self.processor, self.config = processor, config
        self.rate = int(getattr(processor, "sampling_rate", RATE) or RATE)
        self.length = int(round(float(clip_seconds) * self.rate))

    @classmethod
    def from_folder(cls, folder: Path, clip_seconds: float) -> AudioInputs:
        from transformers import AutoConfig, AutoFeatureExtractor

        processor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        return cls(processor, AutoConfig.from_pretrained(folder, local_files_only=True), clip_seconds)

    def __call__(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        from trainer.tasks.audio_classification.decode import resample
        from trainer.tasks.audio_classification.sounds import RATE

        waves = []
        for sound in items:
            samples = np.asarray(getattr(sound, "samples", sound), dtype=np.float32)
            waves.append(self._fit(resample(samples, RATE, self.rate) if self.rate != RATE else samples))
        return self._features(waves)

    def example(self) -> dict[str, np.ndarray]:
        return self._features([np.zeros(self.length, dtype=np.float32)] * 2)

    def _fit(self, samples: np.ndarray) -> np.ndarray:
        from trainer.tasks.audio_classification import clips

        return clips.fit(samples, self.length)

    def _features(self, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
        from trainer.tasks.audio_classification import clips

        features = clips.features(self.processor, self.config, waves, self.rate)
        # The extractor answers torch tensors (clips.features asks for them, as training does).
        return {name: np.asarray(value.numpy()) for name, value in features.items()}
