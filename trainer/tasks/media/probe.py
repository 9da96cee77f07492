"""The frozen-backbone baseline of a media classifier: logistic regression on what the pretrained backbone feeds
its new head (`MediaModel.features`), fitted on the training split before any training step, scored on the test
split. A probe that fails only costs the report its baseline line, never the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trainer.evaluate.probe import MAX_TRAIN_ROWS, capped, linear_probe
from trainer.tasks.encoder_probe import fitted_probe
from trainer.tasks.media.examples import MediaExample, MediaSet
from trainer.tasks.media.predict import ItemStore

if TYPE_CHECKING:
    from trainer.tasks.media.modality import MediaModel, Modality


def media_probe(
    modality: Modality, model: MediaModel, media: MediaSet, splits: dict[str, list[int]], seed: int
) -> dict[str, Any] | None:
    """The probe's test accuracy and macro-F1 (trainer/evaluate/probe.py), logged; None when it cannot be fitted."""

    def embed(examples: Sequence[MediaExample]) -> Any:
        store = ItemStore(modality, model, list(examples))
        return model.features([store[i] for i in range(len(store))])

    train = [media.examples[i] for i in splits["train"]]
    train, train_labels = capped(train, [example.label for example in train], MAX_TRAIN_ROWS, seed)
    test = [media.examples[i] for i in splits["test"]]
    test_labels = [example.label for example in test]
    return fitted_probe(
        "linear probe",
        "the frozen backbone",
        "files",
        lambda: linear_probe(embed, train, train_labels, test, test_labels, media.labels, seed=seed),
        lambda probe: f"accuracy {probe['accuracy']:.4f}, macro-F1 {probe['macro_f1']:.4f}",
    )
