"""A picture of a sound for the chat's galleries: its log-power spectrogram (time left to right, pitch upwards)."""

from __future__ import annotations

import numpy as np
from PIL import Image

# STFT window and hop at 16 kHz: 32 ms windows every 8 ms.
WINDOW = 512
HOP = 128
# Decibels below the loudest bin that still show (quieter is drawn black).
RANGE_DB = 70.0


def spectrogram_picture(samples: np.ndarray, rate: int, size: int) -> Image.Image:
    """A `size` x `size` RGB spectrogram of mono samples (a flat dark square for silence)."""
    from matplotlib import colormaps

    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < WINDOW:
        samples = np.pad(samples, (0, WINDOW - len(samples)))
    frames = 1 + (len(samples) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(samples[index] * np.hanning(WINDOW), axis=1)) ** 2
    decibels = 10 * np.log10(np.maximum(power, 1e-12))
    level = np.clip((decibels - (decibels.max() - RANGE_DB)) / RANGE_DB, 0, 1).T[::-1]  # low pitch at the bottom
    picture = Image.fromarray((colormaps["magma"](level)[:, :, :3] * 255).astype(np.uint8))
    return picture.resize((size, size), Image.Resampling.BILINEAR)
