"""Sounds as a modality of the media-classification task: which files, how they decode, what the planner picks."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.data import kinds
from trainer.tasks.audio_classification import clips
from trainer.tasks.audio_classification.decode import SUFFIX_FORMATS
from trainer.tasks.audio_classification.sounds import MAX_SECONDS, RATE, Sound, read_sound
from trainer.tasks.media.modality import MediaModel, Modality, Progress

if TYPE_CHECKING:
    from PIL import Image

    from trainer.plan.config import RunConfig
    from trainer.tasks.media.examples import MediaSet

DEFAULT_MODEL = "whisper-base"
# Whisper-base's encoder: 20.6 M parameters, 6 layers; about 2 FLOPs per parameter per 20 ms position.
WHISPER_BASE_PARAMETERS = 20.6e6
WHISPER_BASE_LAYERS = 6
# How much faster or slower training clips are played when the data names speakers: on the spoken digits, leaving
# out each voice in turn, a linear probe with clips at 0.9x and 1.1x speed reached macro-F1 1.00 against 0.99
# without (the two voices it missed were the two female US voices).
SPEED_CHANGE = 0.1
# The chat plays at most this much of a recording.
RECORDING_SECONDS = 10.0
# Files named in one line of the inspection before "and N more".
NAMES_SHOWN = 4
# A file clips when more than this share of its samples sit at full scale.
CLIPPING_SHARE = 0.001
# "<group>-<take>.wav": the part before the last "-" or "_" names the speaker, device or session.
GROUP_PATTERN = re.compile(r"^(?P<group>.+?)[-_][^-_]+$")


class AudioModality(Modality):
    noun = "sound"
    kind = kinds.AUDIO_CLASSIFICATION
    # Every audio suffix, readable or not: a file libsndfile cannot read gets its own sentence, not "not a sound".
    suffixes = tuple(SUFFIX_FORMATS)
    content_types = ("audio/",)
    example_content_type = "audio/wav"
    default_model = DEFAULT_MODEL
    # A transformer encoder's layers are large matmuls, which reach about the machine's measured matmul rate.
    cpu_efficiency = 1.0
    # Whisper's encoder separates spoken words almost linearly: on the spoken digits a linear head reached full
    # validation accuracy after one pass; leaving each voice out in turn, its macro-F1 kept rising to about ten
    # passes over 140 clips, and every pass costs a forward through the whole encoder.
    probe_examples = 1400

    def decode(self, data: bytes, name: str) -> Sound:
        return read_sound(data, name)

    def group_of(self, name: str) -> str | None:
        found = GROUP_PATTERN.match(PurePosixPath(name).stem)
        return found.group("group") if found else None

    def describe(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        sounds = [sound for _, sound in items if isinstance(sound, Sound)]
        if not sounds:
            return {}
        durations = np.array([sound.seconds for sound in sounds])
        p50, p95 = np.percentile(durations, [50, 95])
        facts: dict[str, Any] = {
            "duration in seconds (median / 95th percentile / longest)": (
                f"{p50:.2f} / {p95:.2f} / {durations.max():.2f}"
            ),
            "sample rates": _counted(f"{sound.native_rate} Hz" for sound in sounds),
            "channels": _counted({1: "mono", 2: "stereo"}.get(s.channels, f"{s.channels} channels") for s in sounds),
            "formats": _counted(sound.format for sound in sounds),
        }
        clipped = sorted((s for s in sounds if s.clipped > CLIPPING_SHARE), key=lambda s: -s.clipped)
        facts["clipping (samples at full scale)"] = (
            _names([f"{s.name} ({s.clipped:.1%})" for s in clipped]) if clipped else "none"
        )
        silent = [s.name for s in sounds if s.silent]
        facts["silent files"] = _names(silent) if silent else "none"
        return facts

    def preview(self, item: Any, size: int) -> Image.Image:
        from trainer.tasks.audio_classification.pictures import spectrogram_picture

        return spectrogram_picture(item.samples if isinstance(item, Sound) else np.asarray(item), RATE, size)

    def recording(self, item: Any) -> bytes | None:
        import io

        from trainer.tasks.audio_classification.decode import write_wav

        samples = item.samples if isinstance(item, Sound) else np.asarray(item, dtype=np.float32)
        out = io.BytesIO()
        write_wav(samples[: int(RECORDING_SECONDS * RATE)], RATE, out)
        return out.getvalue()

    def load_model(self, config: RunConfig, labels: list[str], progress: Progress | None = None) -> MediaModel:
        from trainer.tasks.audio_classification.model import load_base

        return load_base(config, labels, progress)

    def load_trained(self, folder: Path) -> MediaModel:
        from trainer.tasks.audio_classification.model import load_saved

        return load_saved(folder)

    def plan_settings(self, media: MediaSet, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        from trainer.tasks.audio_classification.decode import probe

        durations = []
        for example in media.examples:
            try:
                durations.append(probe(example.path, example.name).seconds)
            except Exception:
                continue
        from trainer.tasks.media.plan import groups_cross_classes

        seconds, why = clips.clip_seconds(durations)
        chosen: dict[str, Any] = {"clip_seconds": seconds, "augment": True}
        reasons = {
            "clip_seconds": why,
            "augment": (
                "Each training clip is shifted in time (up to 10%), made louder or quieter (up to 6 dB) and given a "
                "little noise, so the model learns the sound, not where it starts or how loud it was recorded."
            ),
        }
        groups = {example.group for example in media.examples}
        if None not in groups and len(groups) >= 3 and groups_cross_classes(media):
            chosen["speed_change"] = SPEED_CHANGE
            reasons["speed_change"] = (
                f"The file names name {len(groups)} speakers (or devices) who each have files of several classes, so "
                f"training clips are also sped up or slowed down by up to {SPEED_CHANGE:.0%}, shifting pitch and "
                "tempo as another voice would: what must carry over is the word, not the voice."
            )
        else:
            chosen["speed_change"] = 0.0
            reasons["speed_change"] = (
                "No speakers are named in the file names, so the pitch of the sounds is kept as recorded (it may be "
                "what tells the classes apart)."
            )
        longest = max(durations, default=0.0)
        if longest > MAX_SECONDS / 10:
            reasons["clip_seconds"] += f" Recordings over {MAX_SECONDS / 60:.0f} minutes are refused."
        return chosen, reasons

    def layer_count(self, model: str) -> int | None:
        config = _config_of(model)
        if config is None:
            return WHISPER_BASE_LAYERS if model == DEFAULT_MODEL else None
        for key in ("encoder_layers", "num_hidden_layers"):
            if isinstance(config.get(key), int):
                return int(config[key])
        return None

    def train_gflops(self, config: RunConfig) -> float | None:
        seconds = float(config.clip_seconds or 1.0)
        found = _config_of(config.model)
        if found is None and config.model != DEFAULT_MODEL:
            return None
        if found is None or found.get("model_type") == "whisper":
            parameters = WHISPER_BASE_PARAMETERS if found is None else _encoder_parameters(found)
            return 2 * parameters * clips.whisper_positions(seconds) / 1e9
        # wav2vec2 and HuBERT make 50 frames a second; AST always sees its fixed-length spectrogram (~1,200 patches).
        tokens = 1214 if found.get("model_type") == "audio-spectrogram-transformer" else seconds * 50
        return 2 * _encoder_parameters(found) * tokens / 1e9


def _encoder_parameters(config: dict[str, Any]) -> float:
    hidden = int(config.get("d_model") or config.get("hidden_size") or 512)
    layers = int(config.get("encoder_layers") or config.get("num_hidden_layers") or 6)
    ffn = int(config.get("encoder_ffn_dim") or config.get("intermediate_size") or 4 * hidden)
    return layers * (4 * hidden * hidden + 2 * hidden * ffn)


def _config_of(model: str) -> dict[str, Any] | None:
    """The config.json of a local or converted model, without loading weights (None for a hub id not cached)."""
    from trainer.models.catalog import get_model, is_known, is_present, models_dir

    folder = Path(model).expanduser()
    if is_known(model) and is_present(get_model(model)):
        folder = models_dir() / get_model(model).name
    try:
        found = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _counted(values: Any) -> str:
    return ", ".join(f"{value} ({count})" for value, count in Counter(values).most_common())


def _names(names: list[str]) -> str:
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return f"{len(names)}: " + ", ".join(names[:NAMES_SHOWN]) + more
