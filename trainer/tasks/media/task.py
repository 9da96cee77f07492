"""Classifying media files as a Task: the same plan, training loop, evaluation and HTTP API for every modality.

A concrete task (image classification, audio classification) is a subclass that sets `name`, `title`,
`data_kinds` and its `modality` (trainer/tasks/media/modality.py); nothing else here knows which one it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trainer.tasks.base import MetricSpec, PlanRequest, Task

if TYPE_CHECKING:
    from trainer.plan.plan import Plan
    from trainer.serve.http import ServedApi
    from trainer.store.registry import Registry
    from trainer.tasks.media.modality import Modality


class MediaClassificationTask(Task):
    """A pretrained network of one modality with a new classification head, trained on labelled files."""

    modality: ClassVar[Modality]
    methods = ("full", "freeze")
    metrics = (
        MetricSpec("accuracy", "share of test files classified correctly", 1),
        MetricSpec("macro_f1", "F1 averaged over classes, so rare classes count as much as common ones", 1, "macro-F1"),
        MetricSpec("baseline", "test accuracy of always predicting the most common training class", 0),
        MetricSpec("final_loss", "last logged training loss", -1),
        MetricSpec("train_seconds", "wall-clock training time", 0),
    )
    rank_metric = "macro_f1"
    exports = ("onnx", "hub")
    search_metric = ("eval_macro_f1", 1)
    exports = ("onnx", "hub")
    # What a one-line plan names; a modality's own settings (image size, clip length) are in each task's list.
    shown_settings: ClassVar[tuple[str, ...]] = (
        "model",
        "method",
        "epochs",
        "learning_rate",
        "batch_size",
        "freeze_layers",
    )

    def propose(self, request: PlanRequest) -> Plan:
        from trainer.tasks.media.plan import propose_media

        return propose_media(self, request)

    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        from trainer.tasks.media.train import train_media_run

        return train_media_run(self.modality, run_dir, registry, run_id)

    def served_api(self) -> ServedApi:
        from trainer.tasks.media.serve import media_api

        return media_api(self.modality)

    def summary_metrics(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        from trainer.evaluate.metrics import classification_summary

        return classification_summary(evaluation)
