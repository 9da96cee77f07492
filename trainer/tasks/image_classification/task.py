"""Image classification as a Task: the shared media-classification task with the image modality."""

from __future__ import annotations

from trainer.data import kinds
from trainer.tasks.image_classification.modality import ImageModality
from trainer.tasks.media.task import MediaClassificationTask


class ImageClassification(MediaClassificationTask):
    name = "image-classification"
    title = "image classification"
    data_kinds = (kinds.IMAGE_CLASSIFICATION,)
    aliases = ("image", "images", "image-classifier")
    modality = ImageModality()
    pipeline_tag = "image-classification"
    shown_settings = (*MediaClassificationTask.shown_settings, "image_size")
    inspect_hint = "Say **fine-tune on this** for a plan to train an image classifier."


TASK = ImageClassification()
