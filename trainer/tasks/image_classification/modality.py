"""Images as a modality of the media-classification task: which files, how they decode, what the planner picks."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.data import kinds
from trainer.tasks.media.modality import MediaModel, Modality, Progress

if TYPE_CHECKING:
    from PIL import Image

    from trainer.plan.config import RunConfig
    from trainer.tasks.image_classification.pictures import Picture
    from trainer.tasks.media.examples import MediaSet

DEFAULT_MODEL = "efficientnet-lite0"
# Forward GFLOPs of EfficientNet-Lite0 per 224 x 224 image (2 x its 385 M multiply-adds); scales with the area.
LITE0_GFLOPS_224 = 0.77
# Files whose sizes the planner reads (a sample is enough for the median).
SIZE_SAMPLE = 200
NUMBER_WORDS = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
}  # fmt: skip
TEXT_WORDS = re.compile(r"digit|letter|char|text|symbol|glyph|sign|number|ocr|font|handwrit", re.IGNORECASE)


class ImageModality(Modality):
    noun = "image"
    kind = kinds.IMAGE_CLASSIFICATION
    suffixes = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
    content_types = ("image/",)
    example_content_type = "image/png"
    default_model = DEFAULT_MODEL

    def decode(self, data: bytes, name: str) -> Picture:
        from trainer.tasks.image_classification.pictures import decode

        return decode(data, name)

    def describe(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        if not items:
            return {}
        sizes = sorted((picture.size for _, picture in items), key=lambda size: size[0] * size[1])

        def shown(size: tuple[int, int]) -> str:
            return f"{size[0]} x {size[1]}"

        modes = Counter(picture.mode for _, picture in items).most_common()
        formats = Counter(picture.format for _, picture in items).most_common()
        return {
            "image size in pixels (smallest / median / largest)": (
                f"{shown(sizes[0])} / {shown(sizes[len(sizes) // 2])} / {shown(sizes[-1])}"
            ),
            "colour modes": ", ".join(f"{mode} ({count})" for mode, count in modes),
            "formats": ", ".join(f"{kind} ({count})" for kind, count in formats),
        }

    def preview(self, item: Any, size: int) -> Image.Image:
        from trainer.tasks.image_classification.pictures import thumbnail

        return thumbnail(item, size)

    def load_model(self, config: RunConfig, labels: list[str], progress: Progress | None = None) -> MediaModel:
        from trainer.tasks.image_classification.model import load_base

        return load_base(config, labels, progress)

    def load_trained(self, folder: Path) -> MediaModel:
        from trainer.tasks.image_classification.model import load_saved

        return load_saved(folder)

    def plan_settings(self, media: MediaSet, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        chosen: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        sides = []
        for example in media.examples[:: max(1, len(media.examples) // SIZE_SAMPLE)][:SIZE_SAMPLE]:
            try:
                picture = self.decode(example.path.read_bytes(), example.name)
            except Exception:
                continue
            sides.append(min(picture.size))
        median = int(statistics.median(sides)) if sides else 224
        if median >= 200:
            chosen["image_size"] = 224
            reasons["image_size"] = (
                f"The images are about {median} px on their short side; 224 is the size the network was pretrained at."
            )
        else:
            size = max(48, min(224, -(-median * 3 // 32) * 16))
            chosen["image_size"] = size
            reasons["image_size"] = (
                f"The images are only about {median} px on their short side; {size} px keeps every detail (enlarged "
                f"{size / median:.1f}x) at {(size / 224) ** 2:.0%} of the compute of the pretrained 224."
            )
        flip, why = flip_is_safe(media.labels)
        chosen["horizontal_flip"] = flip
        reasons["horizontal_flip"] = why
        chosen["augment"] = True
        reasons["augment"] = (
            "Random crops of 60-100% of each training image make the model rely on the object, not its exact place."
        )
        return chosen, reasons

    def layer_count(self, model: str) -> int | None:
        from trainer.models import efficientnet_lite0 as lite
        from trainer.models.catalog import is_known, is_present, models_dir

        if model == DEFAULT_MODEL:
            return sum(int(stage[0]) for stage in lite.LITE0_STAGES) + 1
        folder = Path(model).expanduser()
        if is_known(model):
            from trainer.models.catalog import get_model

            folder = models_dir() / model if is_present(get_model(model)) else folder
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if config.get("tunechat_architecture") == lite.ARCHITECTURE:
            return sum(int(stage[0]) for stage in config.get("stages", lite.LITE0_STAGES)) + 1
        for key in ("num_hidden_layers", "num_layers"):
            if isinstance(config.get(key), int):
                return int(config[key])
        depths = config.get("depths")
        return len(depths) if isinstance(depths, list) else None

    def train_gflops(self, config: RunConfig) -> float | None:
        from trainer.models import efficientnet_lite0 as lite

        if config.model != DEFAULT_MODEL:
            try:
                saved = json.loads((Path(config.model).expanduser() / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            # Lite0 as converted (or with random weights): the same work per image.
            if saved.get("tunechat_architecture") != lite.ARCHITECTURE or saved.get("stages") != lite.LITE0_STAGES:
                return None
        return LITE0_GFLOPS_224 * (config.image_size / 224) ** 2


def flip_is_safe(labels: list[str]) -> tuple[bool, str]:
    """Whether mirroring training images keeps their class, judged from the class names, and why."""
    lowered = [label.strip().lower() for label in labels]
    digits = [label for label in lowered if label.isdigit() or label in NUMBER_WORDS]
    letters = [label for label in lowered if len(label) == 1 and label.isalpha()]
    if len(digits) >= max(2, len(labels) // 2) or len(letters) >= max(2, len(labels) // 2):
        shown = ", ".join(labels[:4])
        return False, (
            f"The classes ({shown}, ...) look like digits or characters, which mirrored become other shapes (or "
            "none), so training images are not flipped."
        )
    if any(TEXT_WORDS.search(label) for label in lowered):
        return False, "The class names mention text or symbols, which mirrored would read wrong, so no flips."
    return True, "Mirrored photos of these classes are still the same class, so half the training images are flipped."
