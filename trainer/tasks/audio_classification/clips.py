"""Clip length, padding and augmentation of waveforms, and fitting Whisper's encoder to a short clip.

Every clip is padded with silence or cut to one length the planner picks from the data's durations. Whisper's
encoder is built for 30 s (1500 positions of 20 ms); a one-second word padded to 30 s would cost 25× the compute
on a CPU, so the encoder is shortened to the clip: its position table is sliced to the first positions (the
ones a 30 s input starts with, so the pretrained values still apply) and `max_source_positions` follows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Shortest and longest clip the planner proposes, in seconds.
MIN_CLIP_SECONDS = 0.5
MAX_CLIP_SECONDS = 30.0
# Whisper: 160 samples per mel frame at 16 kHz and two frames per encoder position (conv2 has stride 2).
WHISPER_SAMPLES_PER_POSITION = 320


def clip_seconds(durations: list[float]) -> tuple[float, str]:
    """The clip length for recordings of these durations, and why (one sentence)."""
    if not durations:
        return 1.0, "No durations were measured, so clips are cut or padded to 1 s."
    ordered = sorted(durations)
    p95 = ordered[min(len(ordered) - 1, int(math.ceil(0.95 * len(ordered))) - 1)]
    longest = ordered[-1]
    # Cover every clip when the longest is close to the rest, else the 95th percentile: one long outlier would
    # otherwise make every other clip mostly padding.
    basis = longest if longest <= 1.5 * p95 else p95
    seconds = min(MAX_CLIP_SECONDS, max(MIN_CLIP_SECONDS, math.ceil(basis * 10 + 0.5) / 10))
    covered = sum(1 for value in ordered if value <= seconds)
    reason = (
        f"Clips are padded or cut to {seconds:g} s: 95% of the {len(ordered)} recordings last at most {p95:.2f} s "
        f"(the longest {longest:.2f} s), so {covered} of them fit whole; a 30 s window would be mostly silence "
        "and cost far more compute."
    )
    return seconds, reason


def fit(samples: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """`length` samples: the clip from `offset` (cut), padded with silence at the end."""
    piece = samples[offset : offset + length]
    if len(piece) == length:
        return piece.astype(np.float32, copy=False)
    out = np.zeros(length, dtype=np.float32)
    out[: len(piece)] = piece
    return out


def augment(samples: np.ndarray, length: int, rng: np.random.Generator, speed: float = 0.0) -> np.ndarray:
    """A training variant of a clip: sped up or slowed down by up to `speed` (pitch and tempo together, as
    another voice would say it; none for 0), shifted in time (up to 10% of the clip), louder or quieter (±6 dB)
    and with a little noise (30 to 45 dB below the clip), so the model does not learn where a sound starts or how
    loud a recording was."""
    if speed > 0 and len(samples) > 1:
        from trainer.tasks.audio_classification.decode import resample

        factor = float(rng.uniform(1 - speed, 1 + speed))
        samples = resample(samples, 16000, max(1, int(round(16000 / factor))))
    shift = int(rng.integers(-length // 10, length // 10 + 1)) if length >= 10 else 0
    if shift >= 0:
        clip = fit(np.concatenate([np.zeros(shift, dtype=np.float32), samples]), length)
    else:
        clip = fit(samples, length, offset=min(-shift, max(0, len(samples) - 1)))
    clip = clip * np.float32(10 ** (rng.uniform(-6, 6) / 20))
    rms = float(np.sqrt(np.mean(np.square(clip)))) if clip.size else 0.0
    if rms > 0:
        noise_db = rng.uniform(30, 45)
        clip = clip + rng.standard_normal(length).astype(np.float32) * np.float32(rms * 10 ** (-noise_db / 20))
    return np.clip(clip, -1.0, 1.0).astype(np.float32)


def is_whisper(model_or_config: Any) -> bool:
    config = getattr(model_or_config, "config", model_or_config)
    return getattr(config, "model_type", None) == "whisper"


def whisper_positions(seconds: float) -> int:
    """Encoder positions (20 ms each) that hold `seconds` of audio."""
    return max(1, math.ceil(seconds * 16000 / WHISPER_SAMPLES_PER_POSITION))


def shorten_whisper(model: Any, seconds: float) -> None:
    """Make a Whisper encoder take `seconds` of audio instead of 30 s (in place; the saved model keeps it)."""
    import torch

    encoder = model.encoder if hasattr(model, "encoder") else model.model.encoder
    positions = min(whisper_positions(seconds), encoder.embed_positions.num_embeddings)
    if positions == encoder.embed_positions.num_embeddings:
        return
    table = torch.nn.Embedding(positions, encoder.embed_positions.embedding_dim)
    table.weight.data.copy_(encoder.embed_positions.weight.data[:positions])
    table.requires_grad_(False)
    encoder.embed_positions = table
    encoder.max_source_positions = positions
    model.config.max_source_positions = positions


def whisper_samples(config: Any) -> int:
    """The samples (at 16 kHz) a Whisper model's encoder takes, from its config."""
    return int(config.max_source_positions) * WHISPER_SAMPLES_PER_POSITION


def features(processor: Any, config: Any, clips: list[np.ndarray], rate: int) -> dict[str, Any]:
    """The model's inputs for clips of equal length (tensors), for any audio feature extractor."""
    if is_whisper(config):
        return dict(
            processor(
                clips,
                sampling_rate=rate,
                return_tensors="pt",
                padding="max_length",
                max_length=whisper_samples(config),
                truncation=True,
            )
        )
    return dict(processor(clips, sampling_rate=rate, return_tensors="pt", padding=True))
