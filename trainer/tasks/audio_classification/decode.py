"""Reading audio: any sample rate and channel count in, mono float32 at the model's rate out.

`soundfile` (libsndfile) reads WAV and FLAC everywhere and MP3/OGG where the installed libsndfile was built with
them; anything else is one sentence naming the file. Only the frames a clip needs are read, so a 30-minute
recording costs what its first seconds cost. Resampling uses soxr (high quality, fast).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from trainer.core.errors import UserError

# The suffixes audio files come with, and the libsndfile major format each needs (None: libsndfile never reads it).
SUFFIX_FORMATS: dict[str, str | None] = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".mp3": "MP3",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".opus": "OGG",
    ".aiff": "AIFF",
    ".aif": "AIFF",
    ".m4a": None,
    ".aac": None,
    ".wma": None,
}
# A sample at or beyond this magnitude counts as clipped (full scale, allowing for 16-bit rounding).
CLIP_LEVEL = 0.999
# A file whose loudest sample stays below this (-60 dBFS) is silent.
SILENCE_PEAK = 1e-3


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says (nothing decoded)."""

    name: str
    seconds: float
    rate: int
    channels: int
    format: str


def named(name: str) -> str:
    """How a sentence names a file: quoted (as the user knows it, inside the upload) when it is a file name, as is
    for "the input" of a request."""
    return f"'{name}'" if PurePath(name).suffix else name[:1].upper() + name[1:]


def readable_formats() -> set[str]:
    """The major formats the installed libsndfile reads (MP3 and OGG depend on how it was built)."""
    import soundfile

    return set(soundfile.available_formats())


def check_suffix(name: str) -> None:
    """One sentence for a file whose kind this machine cannot read, before anything is decoded."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        return
    needed = SUFFIX_FORMATS[suffix]
    if needed is None or needed not in readable_formats():
        import soundfile

        raise UserError(
            f"{named(name)} is {suffix[1:].upper()} audio, which this machine's libsndfile "
            f"({soundfile.__libsndfile_version__}) cannot read; convert it to WAV or FLAC "
            f"(for example `ffmpeg -i {PurePath(name).name} {PurePath(name).stem}.wav`)."
        )


def open_sound(source: bytes | Path, name: str):  # type: ignore[no-untyped-def]
    import soundfile

    check_suffix(name)
    try:
        return soundfile.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
        raise UserError(
            f"{named(name)} is not a readable audio file ({_reason(error)}); replace it with a WAV or FLAC "
            "file or leave it out."
        ) from error


def _reason(error: BaseException) -> str:
    """libsndfile's complaint as one clause ("Error in WAV file. No 'data' chunk marker." → "...: no 'data' ...")."""
    text = str(error).splitlines()[0].split(": ")[-1].strip().rstrip(".") if str(error) else ""
    return (text or type(error).__name__).replace(". ", ": ")[:120]


def probe(source: bytes | Path, name: str) -> AudioInfo:
    """The file's duration, rate and channels from its header; one sentence if it is not readable audio."""
    with open_sound(source, name) as sound:
        rate = int(sound.samplerate)
        if rate <= 0 or sound.channels <= 0:
            raise UserError(f"{named(name)} has no audio (rate {rate}, {sound.channels} channels).")
        return AudioInfo(PurePath(name).name, sound.frames / rate, rate, int(sound.channels), str(sound.format))


def read_raw(source: bytes | Path, name: str, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """The file's own samples, (frames, channels) float32 at its own rate, at most `max_seconds` (only those
    frames are read), and that rate."""
    import soundfile

    with open_sound(source, name) as sound:
        native = int(sound.samplerate)
        if native <= 0:
            raise UserError(f"{named(name)} has no audio (sample rate {native}).")
        frames = -1 if max_seconds is None else max(1, int(np.ceil(max_seconds * native)))
        try:
            return sound.read(frames=frames, dtype="float32", always_2d=True), native
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
            raise UserError(
                f"{named(name)} is damaged after its header ({_reason(error)}); replace it or leave it out."
            ) from error


def mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) as one channel, the mean of all."""
    single = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    return np.ascontiguousarray(single, dtype=np.float32)


def decode(source: bytes | Path, name: str, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples at `rate`, at most `max_seconds` long (only those frames are read)."""
    samples, native = read_raw(source, name, max_seconds)
    return resample(mono(samples), native, rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Samples at `rate` resampled to `target` (unchanged when equal)."""
    if rate == target or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return np.asarray(soxr.resample(samples, rate, target), dtype=np.float32)


@dataclass(frozen=True)
class Levels:
    peak: float
    # Share of samples at full scale (clipping).
    clipped: float
    # Root mean square level in dBFS (-inf for digital silence).
    rms_db: float

    @property
    def silent(self) -> bool:
        return self.peak < SILENCE_PEAK


def levels(samples: np.ndarray) -> Levels:
    """Peak, clipping share and loudness of mono or multichannel samples (float, full scale 1.0)."""
    if samples.size == 0:
        return Levels(0.0, 0.0, float("-inf"))
    magnitude = np.abs(samples)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return Levels(
        float(magnitude.max()),
        float(np.mean(magnitude >= CLIP_LEVEL)),
        20 * float(np.log10(rms)) if rms > 0 else float("-inf"),
    )


def read_levels(source: bytes | Path, name: str, max_seconds: float) -> Levels:
    """Levels of the first `max_seconds` of a file at its own rate (nothing resampled)."""
    return levels(read_raw(source, name, max_seconds)[0])


def write_wav(samples: np.ndarray, rate: int, target: Path | io.BytesIO) -> None:
    """16-bit PCM WAV (what a browser plays everywhere), to a file or a buffer."""
    import soundfile

    out = str(target) if isinstance(target, Path) else target
    soundfile.write(out, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
