"""A decoded sound, as the media task holds it: mono 16 kHz samples plus what the file itself was like.

Decoding reads at most KEEP_SECONDS of a file (only those frames), downmixes and resamples once; its levels
(clipping, silence) are measured on the file's own samples before either. A recording longer than MAX_SECONDS
is refused in one sentence: a half-hour file in a class folder is a mistake more often than an example, and the
first second of it says nothing of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from trainer.core.errors import UserError
from trainer.tasks.audio_classification import decode as audio

# The rate every sound is kept at: the rate of Whisper, wav2vec2, HuBERT and AST alike.
RATE = 16000
# Seconds of a file that are decoded (clips are cut to at most this, MAX_CLIP_SECONDS of clips.py).
KEEP_SECONDS = 30.0
# Longer recordings are refused, not cut.
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Sound:
    name: str
    samples: np.ndarray  # mono float32 at RATE, at most KEEP_SECONDS
    seconds: float  # the whole file's duration
    native_rate: int
    channels: int
    format: str
    peak: float
    clipped: float  # share of samples at full scale
    silent: bool

    @property
    def nbytes(self) -> int:
        """Memory the sound takes (what the media task's cache of decoded files counts)."""
        return int(self.samples.nbytes)


def duration_words(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.1f} s"


def read_sound(source: bytes | Path, name: str) -> Sound:
    """The sound in a file or its bytes; one sentence naming `name` when it is unreadable or too long."""
    info = audio.probe(source, name)
    if info.seconds > MAX_SECONDS:
        shown = PurePath(name).name if PurePath(name).suffix else "recording.wav"
        raise UserError(
            f"{audio.named(name)} lasts {duration_words(info.seconds)}, longer than the {MAX_SECONDS / 60:.0f} "
            "minutes tunechat takes as one example, so it was refused; cut it into short clips (for example "
            f"`ffmpeg -i {shown} -f segment -segment_time 1 clip-%04d.wav`)."
        )
    raw, native = audio.read_raw(source, name, KEEP_SECONDS)
    levels = audio.levels(raw)
    samples = audio.resample(audio.mono(raw), native, RATE)
    return Sound(
        info.name, samples, info.seconds, info.rate, info.channels, info.format, levels.peak, levels.clipped,
        levels.silent,
    )  # fmt: skip
