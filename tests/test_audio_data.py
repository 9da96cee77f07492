"""Reading audio (any rate, any channel count, bad files in one sentence) and fitting clips to a model."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
from toy_audio import RATE, tone, write_sound

from trainer.core.errors import UserError
from trainer.tasks.audio_classification import clips
from trainer.tasks.audio_classification.decode import decode, levels, probe, read_levels


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    ("rate", "channels", "suffix"), [(44100, 2, ".wav"), (22050, 1, ".flac"), (8000, 6, ".wav"), (48000, 2, ".ogg")]
)
def test_any_rate_and_channel_count_becomes_mono_at_the_model_rate(
    tmp_path: Path, rate: int, channels: int, suffix: str
) -> None:
    if suffix == ".ogg" and "OGG" not in soundfile.available_formats():
        pytest.skip("this libsndfile has no OGG")
    path = write_sound(tmp_path / f"x{suffix}", tone(440.0, 0.5, rate, channels), rate)
    samples = decode(path, path.name, RATE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - RATE // 2) <= 2
    assert abs(_dominant_frequency(samples, RATE) - 440.0) < 5
    assert np.allclose(decode(path.read_bytes(), path.name, RATE), samples)
    info = probe(path, path.name)
    assert (info.rate, info.channels, round(info.seconds, 2)) == (rate, channels, 0.5)
    assert info.format == suffix[1:].upper()


def test_a_thirty_minute_recording_is_cut_reading_only_its_first_frames(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    with soundfile.SoundFile(str(path), "w", samplerate=8000, channels=1, subtype="PCM_16") as out:
        block = tone(300.0, 60.0, 8000)
        for _ in range(30):
            out.write(block)
    assert probe(path, "long.wav").seconds == pytest.approx(1800.0)
    tracemalloc.start()
    samples = decode(path, "long.wav", RATE, max_seconds=1.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(samples) == RATE
    assert peak < 2_000_000  # the whole file would be 57 MB as float32


def test_corrupt_and_unsupported_files_get_one_sentence_naming_them(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
    with pytest.raises(UserError, match=r"^'broken\.wav' is not a readable audio file .*; replace it") as caught:
        decode(corrupt, "broken.wav", RATE)
    assert caught.value.args[0].count(". ") == 0
    with pytest.raises(UserError, match=r"^'memo\.m4a' is M4A audio, which this machine's libsndfile .* cannot read"):
        decode(b"\x00\x00\x00\x20ftypM4A ", "memo.m4a", RATE)
    with pytest.raises(UserError, match="'noise.wav' is not a readable audio file"):
        probe(b"", "noise.wav")


def test_levels_find_clipping_and_silence(tmp_path: Path) -> None:
    loud = np.clip(tone(200.0, 0.5, level=2.0), -1, 1)
    assert levels(loud).clipped > 0.3
    assert levels(tone(200.0, 0.5)).clipped == 0.0
    assert levels(np.zeros(800, dtype=np.float32)).silent
    quiet = write_sound(tmp_path / "quiet.wav", np.zeros(1600, dtype=np.float32))
    assert read_levels(quiet, "quiet.wav", 10.0).silent


def test_clip_length_follows_the_durations_with_a_reason() -> None:
    seconds, reason = clips.clip_seconds([0.5, 0.7, 0.8, 0.9, 1.0, 1.1])
    assert seconds == 1.2
    assert "95%" in reason and "1.10 s" in reason and "6 of them fit whole" in reason
    # One half-hour outlier does not make every other clip mostly padding.
    seconds, _ = clips.clip_seconds([0.8] * 40 + [1800.0])
    assert seconds == 0.9
    assert clips.clip_seconds([0.1])[0] == clips.MIN_CLIP_SECONDS


def test_fit_and_augment_keep_the_length() -> None:
    rng = np.random.default_rng(0)
    samples = tone(300.0, 0.25)
    assert len(clips.fit(samples, 8000)) == 8000 and not clips.fit(samples, 8000)[4000:].any()
    assert np.array_equal(clips.fit(samples, 100), samples[:100])
    variants = [clips.augment(samples, 8000, rng) for _ in range(4)]
    assert all(len(v) == 8000 and np.abs(v).max() <= 1.0 for v in variants)
    assert not np.allclose(variants[0], variants[1])
    # Sped up or slowed down by up to 10%: a 440 Hz tone comes out between 396 and 484 Hz.
    pitches = [_dominant_frequency(clips.augment(tone(440.0, 1.0), 16000, rng, 0.1), RATE) for _ in range(6)]
    assert all(390 <= pitch <= 490 for pitch in pitches) and len({round(p) for p in pitches}) > 1
    assert all(abs(_dominant_frequency(clips.augment(tone(440.0, 1.0), 16000, rng), RATE) - 440) < 3 for _ in range(3))


@pytest.mark.slow
def test_a_shortened_whisper_encoder_takes_short_clips(tmp_path: Path) -> None:
    import torch
    from toy_audio import save_tiny_whisper
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    folder = save_tiny_whisper(tmp_path / "whisper")
    model = AutoModelForAudioClassification.from_pretrained(folder, num_labels=2).eval()
    first_positions = model.encoder.embed_positions.weight[:50].clone()
    clips.shorten_whisper(model, 1.0)
    assert model.config.max_source_positions == 50
    assert torch.equal(model.encoder.embed_positions.weight, first_positions)
    processor = AutoFeatureExtractor.from_pretrained(folder)
    inputs = clips.features(processor, model.config, [tone(300.0, 0.7), tone(900.0, 1.3)], RATE)
    assert inputs["input_features"].shape == (2, 80, 100)
    with torch.no_grad():
        assert model(**inputs).logits.shape == (2, 2)
    model.save_pretrained(tmp_path / "short")
    reloaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "short")
    assert reloaded.encoder.embed_positions.weight.shape[0] == 50
