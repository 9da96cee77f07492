"""Sounds and tiny audio models made here (no downloads): tones and noise written with soundfile, a two-layer
Whisper encoder classifier saved as safetensors, and the same weights in CTranslate2's model.bin layout.

conftest.py builds the model once (`tiny_whisper`); tests call the sound builders directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000
# Classes the toy data sets use: each a tone (or noise) a tiny model tells apart in a few steps.
TONES = {"low": 220.0, "high": 1760.0}


def tone(frequency: float, seconds: float = 0.4, rate: int = RATE, channels: int = 1, level: float = 0.5) -> np.ndarray:
    """A sine tone with a little noise, shaped (frames,) or (frames, channels)."""
    rng = np.random.default_rng(int(frequency * 10 + seconds * 100 + rate))
    t = np.arange(int(seconds * rate)) / rate
    wave = level * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(len(t))
    wave = wave.astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, axis=1)


def write_sound(path: Path, samples: np.ndarray, rate: int = RATE, subtype: str | None = None) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return path


def tone_folder(root: Path, per_class: int = 6, voices: int = 3) -> Path:
    """<root>/<class>/<voice>-<n>.wav: two tone classes, `voices` groups sharing file-name prefixes across classes."""
    for label, frequency in TONES.items():
        for index in range(per_class):
            voice = f"v{index % voices}"
            pitch = frequency * (1 + 0.03 * (index % voices))
            write_sound(root / label / f"{voice}-{index}.wav", tone(pitch, 0.3 + 0.05 * (index % 3)))
    return root


def tiny_whisper_config(**overrides: Any) -> Any:
    from transformers import WhisperConfig

    values: dict[str, Any] = dict(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        num_mel_bins=80,
        max_source_positions=1500,
        vocab_size=64,
        classifier_proj_size=16,
    )
    values.update(overrides)
    return WhisperConfig(**values)


def save_tiny_whisper(folder: Path, **overrides: Any) -> Path:
    """A random two-layer WhisperForAudioClassification (d_model 32) with its feature extractor."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(0)
    model = WhisperForAudioClassification(tiny_whisper_config(**overrides))
    model.save_pretrained(folder)
    WhisperFeatureExtractor().save_pretrained(folder)
    return folder


def ctranslate2_variables(model: Any) -> dict[str, np.ndarray]:
    """A Whisper model's encoder in the names and fused layout CTranslate2's converter writes (float16)."""
    encoder = model.encoder
    state = {k: v.detach().numpy().astype(np.float16) for k, v in encoder.state_dict().items()}
    heads = np.int16(model.config.encoder_attention_heads)
    out: dict[str, np.ndarray] = {
        "encoder/conv1/weight": state["conv1.weight"],
        "encoder/conv1/bias": state["conv1.bias"],
        "encoder/conv2/weight": state["conv2.weight"],
        "encoder/conv2/bias": state["conv2.bias"],
    }
    for index in range(model.config.encoder_layers):
        prefix, ours = f"encoder/layer_{index}", f"layers.{index}"
        q, k, v = (state[f"{ours}.self_attn.{p}_proj.weight"] for p in "qkv")
        out[f"{prefix}/self_attention/linear_0/weight"] = np.concatenate([q, k, v])
        zero = np.zeros_like(state[f"{ours}.self_attn.q_proj.bias"])
        biases = [state[f"{ours}.self_attn.q_proj.bias"], zero, state[f"{ours}.self_attn.v_proj.bias"]]
        out[f"{prefix}/self_attention/linear_0/bias"] = np.concatenate(biases)
        pairs = {
            "self_attention/linear_1": "self_attn.out_proj",
            "self_attention/layer_norm": "self_attn_layer_norm",
            "ffn/linear_0": "fc1",
            "ffn/linear_1": "fc2",
            "ffn/layer_norm": "final_layer_norm",
        }
        for theirs, mine in pairs.items():
            names = ("gamma", "beta") if theirs.endswith("layer_norm") else ("weight", "bias")
            out[f"{prefix}/{theirs}/{names[0]}"] = state[f"{ours}.{mine}.weight"]
            out[f"{prefix}/{theirs}/{names[1]}"] = state[f"{ours}.{mine}.bias"]
    out["encoder/layer_norm/gamma"] = state["layer_norm.weight"]
    out["encoder/layer_norm/beta"] = state["layer_norm.bias"]
    out["encoder/num_heads"] = np.asarray(heads)
    out["encoder/position_encodings/encodings"] = state["embed_positions.weight"]
    return out


def zip_folder(folder: Path, target: Path) -> Path:
    """A zip of `folder` with its own name as the top folder, as a user zips a folder."""
    import zipfile

    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, file.relative_to(folder.parent).as_posix())
    return target
