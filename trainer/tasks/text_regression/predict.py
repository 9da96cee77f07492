"""Load a finished regression run's model and score texts with it, in the target's own units."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.tasks.text_classification.predict import DEFAULT_MAX_LENGTH, load_run_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class Regressor:
    """A text regression model in eval mode; `predict` returns one `{"score": x}` per text."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int = DEFAULT_MAX_LENGTH,
        run_id: int | None = None,
        pairs: bool = False,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.run_id = run_id
        self.pairs = pairs
        # The mean and deviation the target was standardised with in training (saved in the model's config).
        self.mean = float(getattr(model.config, "target_mean", 0.0) or 0.0)
        self.std = float(getattr(model.config, "target_std", 1.0) or 1.0)
        self.target = str(getattr(model.config, "target_name", "") or "score")
        # As the classifier: one prediction at a time (a fast tokenizer refuses concurrent calls).
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: Path) -> Regressor:
        loaded = load_run_model(Path(run_dir))
        return cls(loaded.model, loaded.tokenizer, loaded.max_length, loaded.run_id, loaded.pairs)

    def predict(self, texts: list[str], batch_size: int = 32, pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """For each text (or text pair), `{"score": the predicted number}` in the target's units."""
        import torch

        results: list[dict[str, Any]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = [str(text) for text in texts[start : start + batch_size]]
                second = [str(text) for text in pairs[start : start + batch_size]] if pairs is not None else None
                encoded = self.tokenizer(
                    batch, second, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                )
                outputs = self.model(**encoded).logits.float().reshape(len(batch), -1)[:, 0]
                results.extend({"score": float(value) * self.std + self.mean} for value in outputs.tolist())
        return results
