"""Load a finished regression run's model and score texts with it, in the target's own units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer.tasks.text_classification.predict import DEFAULT_MAX_LENGTH, Predictor

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class Regressor(Predictor):
    """A text regression model in eval mode; `predict` returns one `{"score": x}` per text (or text pair).

    Loading (`from_run`), batching and the one-at-a-time lock are the classifier's.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int = DEFAULT_MAX_LENGTH,
        run_id: int | None = None,
        pairs: bool = False,
    ):
        super().__init__(model, tokenizer, max_length=max_length, run_id=run_id, pairs=pairs)
        # The mean and deviation the target was standardised with in training (saved in the model's config).
        self.mean = float(getattr(model.config, "target_mean", 0.0) or 0.0)
        self.std = float(getattr(model.config, "target_std", 1.0) or 1.0)
        self.target = str(getattr(model.config, "target_name", "") or "score")

    def predict(self, texts: list[str], batch_size: int = 32, pairs: list[str] | None = None) -> list[Any]:
        """For each text (or text pair), `{"score": the predicted number}` in the target's units."""
        import torch

        results: list[dict[str, Any]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                logits = self.model(**self.encode(texts, pairs, start, batch_size)).logits.float()
                values = logits.reshape(logits.shape[0], -1)[:, 0].tolist()
                results.extend({"score": value * self.std + self.mean} for value in values)
        return results
