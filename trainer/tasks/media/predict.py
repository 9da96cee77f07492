"""Decoded files in, class probabilities out: what training, evaluation and the served API share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer.tasks.media.examples import MediaExample

if TYPE_CHECKING:
    import torch

    from trainer.tasks.media.modality import MediaModel, Modality


def load_items(modality: Modality, examples: list[MediaExample]) -> list[Any]:
    """The decoded files (checked readable when the set was loaded)."""
    return [modality.decode(example.path.read_bytes(), example.name) for example in examples]


def logits_of(output: Any) -> torch.Tensor:
    """A network's logits, whether it returns them or an output object holding them."""
    return output.logits if hasattr(output, "logits") else output


def predict_probabilities(model: MediaModel, items: list[Any], batch_size: int = 64) -> list[list[float]]:
    """Softmax scores per item (in the model's label order), without augmentation."""
    import numpy as np
    import torch

    model.network.eval()
    rows: list[list[float]] = []
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            batch = model.batch(items[start : start + batch_size], False, rng)
            rows += torch.softmax(logits_of(model.network(**batch)).float(), dim=-1).tolist()
    return rows
