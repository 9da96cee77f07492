"""Image classification as a Task: the shared media-classification task with the image modality."""

from __future__ import annotations

from trainer.data import kinds
from trainer.tasks.base import Purpose
from trainer.tasks.image_classification.modality import DEFAULT_MODEL, ImageModality
from trainer.tasks.media.task import MediaClassificationTask

PURPOSE = Purpose(
    title="image classification",
    kind=kinds.IMAGE_CLASSIFICATION,
    examples=(
        "spot defects in product photos",
        "sort pictures of plants by species",
        "tell cats from dogs in images",
        "flag damaged parcels from camera shots",
        "recognise handwritten digits in scans",
        "classify aerial imagery by land cover",
        "tell ripe fruit from unripe on the conveyor camera",
        "sort uploaded receipts from other photos",
    ),
    cues=(
        r"photos?",
        r"photographs?",
        r"pictures?",
        r"images?",
        r"pics?",
        r"scans?",
        r"scanned",
        r"x-?rays?",
        r"camera",
        r"screenshots?",
        r"visual(ly)?",
        r"webcam",
        r"drawings?",
    ),
    model=DEFAULT_MODEL,
    family="a small pretrained image network (EfficientNet-Lite0, 4.7 M parameters) with a new head",
    why=(
        "Naming what a picture shows is image classification: a network pretrained on ImageNet already sees "
        "edges, textures and shapes, so a new head learns your classes from a few dozen images per class."
    ),
    data="a folder with one subfolder of images per class, or a table with a column of image files and a label",
    labels="categories",
)


class ImageClassification(MediaClassificationTask):
    name = "image-classification"
    title = "image classification"
    data_kinds = (kinds.IMAGE_CLASSIFICATION,)
    aliases = ("image", "images", "image-classifier")
    modality = ImageModality()
    pipeline_tag = "image-classification"
    shown_settings = (*MediaClassificationTask.shown_settings, "image_size")
    inspect_hint = "Say **fine-tune on this** for a plan to train an image classifier."
    purposes = (PURPOSE,)


TASK = ImageClassification()
