"""The audio classifiers a run trains: any AutoModelForAudioClassification (Whisper encoder, AST, wav2vec2, HuBERT).

The base model is an offline catalog name (whisper-base, converted once into the workspace), a hub id or a local
folder; weights load only from safetensors, and a repository's own code runs only with `trust_remote_code`. The
clip length and augmentation a model was trained with are saved beside it (audio.json), so the served model hears
clips exactly as the evaluated one did.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.core.errors import UserError
from trainer.tasks.audio_classification import clips
from trainer.tasks.audio_classification.decode import resample
from trainer.tasks.audio_classification.sounds import RATE, Sound
from trainer.tasks.media.modality import MediaModel, Progress

SETTINGS = "audio.json"
# Parameters of the classification heads transformers puts on audio encoders (trained at any freeze_layers).
HEAD_NAMES = ("projector", "classifier", "layer_weights", "score")


class AudioModel(MediaModel):
    """A network taking the inputs of its feature extractor, and the clip settings it was trained with."""

    def __init__(self, network: torch.nn.Module, labels: list[str], processor: Any, settings: dict[str, Any]):
        super().__init__(network, labels)
        self.processor = processor
        self.settings = dict(settings)
        self.rate = int(getattr(processor, "sampling_rate", RATE) or RATE)
        self.length = int(round(float(settings["clip_seconds"]) * self.rate))

    def batch(self, items: list[Any], train: bool, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        waves = []
        for sound in items:
            samples = sound.samples if isinstance(sound, Sound) else np.asarray(sound, dtype=np.float32)
            if self.rate != RATE:
                samples = resample(samples, RATE, self.rate)
            if train and self.settings.get("augment", True):
                speed = float(self.settings.get("speed_change", 0.0))
                waves.append(clips.augment(samples, self.length, rng, speed))
            else:
                waves.append(clips.fit(samples, self.length))
        return clips.features(self.processor, self.network.config, waves, self.rate)

    def compact(self, item: Any) -> Any:
        """Only the samples a clip can use: its length, plus room for the shift and speed change of training."""
        if not isinstance(item, Sound):
            return item
        keep = int(float(self.settings["clip_seconds"]) * RATE * (1.2 + float(self.settings.get("speed_change", 0))))
        return dataclasses.replace(item, samples=item.samples[:keep].copy()) if len(item.samples) > keep else item

    def _layers(self) -> torch.nn.ModuleList:
        """The backbone's stack of transformer layers (the longest ModuleList outside the head)."""
        found: torch.nn.ModuleList | None = None
        for name, module in self.network.named_modules():
            if isinstance(module, torch.nn.ModuleList) and not name.startswith(HEAD_NAMES):
                if found is None or len(module) > len(found):
                    found = module
        if found is None:
            raise UserError("This audio model has no stack of layers tunechat can freeze; set freeze_layers to 0.")
        return found

    def layer_count(self) -> int:
        return len(self._layers())

    def freeze(self, n: int) -> dict[str, int]:
        """Freeze the input layers (feature encoder, convolutions, positions) and the lowest `n` layers; with every
        layer frozen, the norms above them too, so only the head trains (a linear probe)."""
        if n > 0:
            layers = self._layers()
            inside = {id(p) for layer in layers for p in layer.parameters()}
            lowest = {id(p) for layer in layers[:n] for p in layer.parameters()}
            probe = n >= len(layers)
            for name, parameter in self.network.named_parameters():
                if name.startswith(HEAD_NAMES):
                    continue
                top_norm = name.rsplit(".", 2)[-2].endswith(("layer_norm", "layernorm", "norm"))
                if id(parameter) in lowest or (id(parameter) not in inside and (probe or not top_norm)):
                    parameter.requires_grad_(False)
        trainable = sum(p.numel() for p in self.network.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.network.parameters())
        return {"trainable": trainable, "frozen": total - trainable}

    def head_layer(self) -> torch.nn.Module:
        """The head's first linear layer (Whisper's projector, before its mean over frames; else the classifier)."""
        for name, module in self.network.named_modules():
            if name.startswith(HEAD_NAMES) and isinstance(module, torch.nn.Linear):
                return module
        return super().head_layer()

    def head_parameters(self) -> list[torch.nn.Parameter]:
        return [p for name, p in self.network.named_parameters() if name.startswith(HEAD_NAMES)]

    def save(self, folder: Path) -> None:
        network: Any = self.network  # a transformers PreTrainedModel (torch.nn.Module to the interface)
        network.save_pretrained(folder)
        self.processor.save_pretrained(folder)
        (folder / SETTINGS).write_text(json.dumps({**self.settings, "labels": self.labels}, indent=2) + "\n")


def model_reference(name: str, progress: Progress | None = None) -> str:
    """A folder or hub id from_pretrained loads: offline catalog names are installed and converted first."""
    from trainer.models import catalog

    if catalog.is_known(name) and not Path(name).exists():
        return str(catalog.model_folder(name, progress=progress))
    return name


def load_base(config: Any, labels: list[str], progress: Progress | None = None) -> AudioModel:
    """The run's base model with a new head for `labels`, shortened to the clip when it is Whisper."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    reference = model_reference(config.model, progress)
    options: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": bool(config.trust_remote_code)}
    try:
        processor = AutoFeatureExtractor.from_pretrained(reference, **options)
        network = AutoModelForAudioClassification.from_pretrained(
            reference,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
            **options,
        )
    except (OSError, ValueError) as error:
        raise UserError(
            f"Could not load the audio model '{config.model}' ({str(error).splitlines()[0][:160]}); name an "
            "AudioClassification model on the Hugging Face hub, a local folder with safetensors weights, or "
            "whisper-base."
        ) from error
    seconds = float(config.clip_seconds or 1.0)
    if clips.is_whisper(network):
        clips.shorten_whisper(network, seconds)
    settings = {
        "clip_seconds": seconds,
        "augment": bool(config.augment),
        "speed_change": float(config.speed_change),
        "base_model": config.model,
    }
    return AudioModel(network, labels, processor, settings)


def load_saved(folder: Path) -> AudioModel:
    """A model written by AudioModel.save."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    folder = Path(folder)
    settings = json.loads((folder / SETTINGS).read_text())
    network = AutoModelForAudioClassification.from_pretrained(folder, use_safetensors=True).eval()
    processor = AutoFeatureExtractor.from_pretrained(folder)
    labels = [str(label) for label in settings.pop("labels")]
    return AudioModel(network, labels, processor, settings)
