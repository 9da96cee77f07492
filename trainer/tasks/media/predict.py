"""Decoded files in, class probabilities out: what training, evaluation and the served API share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trainer.tasks.media.examples import MediaExample

if TYPE_CHECKING:
    import torch

    from trainer.tasks.media.modality import MediaModel, Modality


# Decoded files kept in memory during a run: a small data set is decoded once, a large one as its batches need.
CACHE_BYTES = 1_000_000_000
# What an item whose size is unknown (no `nbytes`) counts as.
UNKNOWN_ITEM_BYTES = 1_000_000


def load_items(modality: Modality, examples: list[MediaExample]) -> list[Any]:
    """The decoded files (checked readable when the set was loaded)."""
    return [modality.decode(example.path.read_bytes(), example.name) for example in examples]


class ItemStore:
    """Examples decoded on demand and reduced to what the model uses (`MediaModel.compact`), kept in memory while
    they fit CACHE_BYTES, so photos by the thousand never have to be in memory at once."""

    def __init__(self, modality: Modality, model: MediaModel, examples: list[MediaExample], budget: int = CACHE_BYTES):
        self.modality, self.model, self.examples, self.budget = modality, model, examples, budget
        self._kept: dict[int, Any] = {}
        self._used = 0

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Any:
        if index in self._kept:
            return self._kept[index]
        example = self.examples[index]
        item = self.model.compact(self.modality.decode(example.path.read_bytes(), example.name))
        size = int(getattr(item, "nbytes", UNKNOWN_ITEM_BYTES))
        if self._used + size <= self.budget:
            self._kept[index] = item
            self._used += size
        return item


def logits_of(output: Any) -> torch.Tensor:
    """A network's logits, whether it returns them or an output object holding them."""
    return output.logits if hasattr(output, "logits") else output


def predict_probabilities(
    model: MediaModel, items: Sequence[Any] | ItemStore, batch_size: int = 64
) -> list[list[float]]:
    """Softmax scores per item (in the model's label order), without augmentation."""
    import numpy as np
    import torch

    model.network.eval()
    rows: list[list[float]] = []
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            chunk = [items[index] for index in range(start, min(start + batch_size, len(items)))]
            batch = model.batch(chunk, False, rng)
            rows += torch.softmax(logits_of(model.network(**batch)).float(), dim=-1).tolist()
    return rows
