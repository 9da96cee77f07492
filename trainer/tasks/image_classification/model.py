"""The image classifiers a run trains: tunechat's EfficientNet-Lite, or any AutoModelForImageClassification.

Which one a folder holds is read from its config.json (never guessed from the model's name); weights load only
from safetensors, and a model repository's own code runs only when the run config says `trust_remote_code`.
The input size, normalisation and augmentation a model was trained with are saved beside it (preprocess.json),
so the served model sees images exactly as the evaluated one did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.core.errors import UserError
from trainer.models import efficientnet_lite0 as lite
from trainer.tasks.image_classification.pictures import pixel_batch
from trainer.tasks.media.modality import MediaModel, Progress

PREPROCESS = "preprocess.json"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class ImageModel(MediaModel):
    """A network taking `pixel_values`, with the preprocessing it was trained with."""

    def __init__(self, network: torch.nn.Module, labels: list[str], preprocess: dict[str, Any]):
        super().__init__(network, labels)
        self.preprocess = dict(preprocess)
        self.frozen: list[torch.nn.Module] = []

    def batch(self, items: list[Any], train: bool, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        p = self.preprocess
        array = pixel_batch(
            items,
            int(p["image_size"]),
            p["image_mean"],
            p["image_std"],
            train=train,
            augment=bool(p.get("augment", True)),
            flip=bool(p.get("horizontal_flip", False)),
            rng=rng,
        )
        return {"pixel_values": torch.from_numpy(array)}

    def compact(self, item: Any) -> Any:
        # A training crop keeps at least 60% of the area (77% of a side), so 1.5x the input size loses nothing.
        return item.shrunk(round(int(self.preprocess["image_size"]) * 1.5))

    def units(self) -> tuple[list[torch.nn.Module], list[list[torch.nn.Module]]]:
        """(input layers frozen with any n, the layers `freeze` counts, lowest first)."""
        raise NotImplementedError

    def layer_count(self) -> int:
        return len(self.units()[1])

    def freeze(self, n: int) -> dict[str, int]:
        if n > 0:
            inputs, layers = self.units()
            self.frozen = [*inputs, *[module for layer in layers[:n] for module in layer]]
            for module in self.frozen:
                for parameter in module.parameters():
                    parameter.requires_grad_(False)
        trainable = sum(p.numel() for p in self.network.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.network.parameters())
        return {"trainable": trainable, "frozen": total - trainable}

    def train_mode(self) -> None:
        self.network.train()
        for module in self.frozen:
            module.eval()  # frozen batch norm keeps its pretrained statistics

    def save(self, folder: Path) -> None:
        self._save_network(folder)
        (folder / PREPROCESS).write_text(json.dumps({**self.preprocess, "labels": self.labels}, indent=2))

    def _save_network(self, folder: Path) -> None:
        raise NotImplementedError


class LiteModel(ImageModel):
    """Kept channels-last: on CPUs oneDNN runs its depthwise convolutions about twice as fast in that layout."""

    network: lite.EfficientNetLite

    def __init__(self, network: lite.EfficientNetLite, labels: list[str], preprocess: dict[str, Any]):
        network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        super().__init__(network, labels, preprocess)

    def batch(self, items: list[Any], train: bool, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        pixels = super().batch(items, train, rng)["pixel_values"]
        return {"pixel_values": pixels.contiguous(memory_format=torch.channels_last)}

    def units(self) -> tuple[list[torch.nn.Module], list[list[torch.nn.Module]]]:
        return self.network.stem(), self.network.layers()

    def _save_network(self, folder: Path) -> None:
        lite.save_folder(self.network, folder)


class HubModel(ImageModel):
    """Any transformers image classifier: its embeddings, then the largest stack of layers, freeze bottom-up."""

    def units(self) -> tuple[list[torch.nn.Module], list[list[torch.nn.Module]]]:
        from trainer.tasks.text_classification.model import encoder_layers

        base: Any = getattr(self.network, "base_model", self.network)
        layers = encoder_layers(self.network)
        embeddings = getattr(base, "embeddings", None) or getattr(base, "embedder", None)
        inputs = [embeddings] if isinstance(embeddings, torch.nn.Module) else []
        return inputs, [[layer] for layer in (layers or [])]

    def _save_network(self, folder: Path) -> None:
        self.network.save_pretrained(folder)  # type: ignore[operator]


def preprocess_of(folder: Path, config: Any) -> dict[str, Any]:
    """Input size and normalisation: a Lite folder's config, a hub model's preprocessor_config.json, or ImageNet's."""
    settings: dict[str, Any] = {"image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD}
    if lite.is_folder(folder):
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        settings = {"image_mean": saved.get("image_mean", [0.5] * 3), "image_std": saved.get("image_std", [0.5] * 3)}
    elif (folder / "preprocessor_config.json").is_file():
        saved = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
        settings = {key: saved.get(key, settings[key]) for key in settings}
    return {
        **settings,
        "image_size": int(config.image_size),
        "augment": bool(config.augment),
        "horizontal_flip": bool(config.horizontal_flip),
    }


def resolve_model(name: str, progress: Progress | None = None) -> Path | str:
    """A catalog model's folder (installed and converted on first use), a local folder, or a hub id unchanged."""
    from trainer.models.catalog import is_known, model_folder

    if is_known(name):
        return model_folder(name, progress=progress)
    local = Path(name).expanduser()
    return local if local.is_dir() else name


def load_base(config: Any, labels: list[str], progress: Progress | None = None) -> ImageModel:
    """The run's base model with a new head for `labels`."""
    where = resolve_model(config.model, progress)
    if isinstance(where, Path) and lite.is_folder(where):
        network = lite.load_folder(where)
        network.new_head(labels)
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                # TensorFlow's slow 0.99 decay would leave the statistics of the layers that train near
                # ImageNet's for hundreds of steps, so evaluation would see other activations than training.
                module.momentum = 0.1
        return LiteModel(network, labels, preprocess_of(where, config))
    from transformers import AutoModelForImageClassification

    try:
        hub = AutoModelForImageClassification.from_pretrained(
            str(where),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
            use_safetensors=True,
            trust_remote_code=bool(config.trust_remote_code),
        )
    except (OSError, ValueError, KeyError) as error:
        text = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise UserError(
            f"Could not load image model '{config.model}' ({text.rstrip('.')}); give a local folder with "
            "safetensors weights or a Hugging Face id, or use the offline 'efficientnet-lite0'."
        ) from error
    folder = Path(where) if isinstance(where, Path) else Path(str(getattr(hub, "name_or_path", "")))
    return HubModel(hub, labels, preprocess_of(folder, config))


def load_saved(folder: Path) -> ImageModel:
    """A model saved by ImageModel.save (a run's model/ folder)."""
    folder = Path(folder)
    try:
        preprocess = json.loads((folder / PREPROCESS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"The model folder '{folder}' has no readable {PREPROCESS}; train the run again.") from None
    labels = [str(label) for label in preprocess.pop("labels")]
    if lite.is_folder(folder):
        return LiteModel(lite.load_folder(folder).eval(), labels, preprocess)
    from transformers import AutoModelForImageClassification

    network = AutoModelForImageClassification.from_pretrained(folder, use_safetensors=True, local_files_only=True)
    return HubModel(network.eval(), labels, preprocess)
