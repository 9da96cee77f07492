"""Audio classification end to end on a tiny Whisper: plan, train (loss falls, voices held out), serve /predict
with a WAV as raw bytes, multipart and base64, and bad files in one sentence each."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile
from toy_audio import tone, tone_folder, write_sound, zip_folder

from trainer.core.fileio import read_jsonl
from trainer.tasks.audio_classification.task import TASK as AUDIO
from trainer.tasks.base import PlanRequest
from trainer.tasks.media.examples import load_media


def _post(url: str, body: bytes, content_type: str) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _wav(frequency: float, seconds: float = 0.4, rate: int = 16000, channels: int = 1) -> bytes:
    import io

    out = io.BytesIO()
    soundfile.write(out, tone(frequency, seconds, rate, channels), rate, format="WAV")
    return out.getvalue()


@pytest.mark.slow
def test_the_plan_holds_out_voices_and_picks_the_clip_length(tmp_path: Path) -> None:
    folder = tone_folder(tmp_path / "tones", per_class=6, voices=3)
    plan = AUDIO.propose(PlanRequest(zip_folder(folder, tmp_path / "tones.zip"), {}, cache_dir=tmp_path))
    assert plan.config["group_split"] is True and plan.config["task"] == "audio-classification"
    assert "'v0' from 'tones/high/v0-0.wav'" in plan.reasons["split"]
    assert plan.config["clip_seconds"] == 0.5 and "95%" in plan.reasons["clip_seconds"]
    assert plan.config["model"] == "whisper-base" and 5 <= plan.config["epochs"] <= 30
    assert plan.config["speed_change"] == 0.1 and "3 speakers" in plan.reasons["speed_change"]
    turned_off = AUDIO.propose(PlanRequest(tmp_path / "tones.zip", {"group_split": False}, cache_dir=tmp_path))
    assert turned_off.config["group_split"] is False


def test_names_that_are_the_classes_are_not_groups(tmp_path: Path) -> None:
    for label in ("dog", "cat"):
        for index in range(4):
            write_sound(tmp_path / "pets" / label / f"{label}-{index}.wav", tone(300.0 + 50 * index))
    plan = AUDIO.propose(PlanRequest(zip_folder(tmp_path / "pets", tmp_path / "pets.zip"), {}, cache_dir=tmp_path))
    assert plan.config["group_split"] is False
    assert plan.config["speed_change"] == 0.0 and "pitch of the sounds is kept" in plan.reasons["speed_change"]


def test_bad_files_are_skipped_with_one_sentence_each_and_the_rest_is_used(tmp_path: Path) -> None:
    folder = tone_folder(tmp_path / "tones", per_class=3)
    (folder / "low" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(64))
    (folder / "low" / "memo.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(64))
    with soundfile.SoundFile(str(folder / "high" / "meeting.wav"), "w", 1000, 1, "PCM_U8") as long:
        long.write(np.zeros(1000 * 1800, dtype=np.float32))
    media = load_media(zip_folder(folder, tmp_path / "tones.zip"), AUDIO.modality, tmp_path)
    assert len(media.examples) == 6
    reasons = {item.name: item.reason for item in media.skipped}
    assert reasons["tones/low/broken.wav"].startswith("'tones/low/broken.wav' is not a readable audio file (")
    assert "M4A audio, which this machine's libsndfile" in reasons["tones/low/memo.m4a"]
    assert reasons["tones/high/meeting.wav"].startswith("'tones/high/meeting.wav' lasts 30 minutes, longer than")
    assert "so it was refused" in reasons["tones/high/meeting.wav"]
    for reason in reasons.values():
        assert reason.endswith(".") and reason.count(". ") == 0


def test_inspection_facts_name_clipped_and_silent_files(tmp_path: Path) -> None:
    loud = write_sound(tmp_path / "loud.wav", np.clip(tone(200.0, 0.5, level=3.0), -1, 1))
    quiet = write_sound(tmp_path / "quiet.wav", np.zeros(8000, dtype=np.float32), rate=8000)
    stereo = write_sound(tmp_path / "stereo.flac", tone(300.0, 1.0, 44100, 2), rate=44100)
    items = [(path.name, AUDIO.modality.decode(path.read_bytes(), path.name)) for path in (loud, quiet, stereo)]
    facts = AUDIO.modality.describe(items)
    assert facts["duration in seconds (median / 95th percentile / longest)"].endswith("/ 1.00")
    assert facts["sample rates"] == "16000 Hz (1), 8000 Hz (1), 44100 Hz (1)"
    assert facts["channels"] == "mono (2), stereo (1)"
    assert facts["clipping (samples at full scale)"].startswith("1: loud.wav (")
    assert facts["silent files"] == "1: quiet.wav"
    picture = AUDIO.modality.preview(items[2][1], 48)
    assert picture.size == (48, 48) and picture.mode == "RGB"


@pytest.mark.slow
def test_training_lowers_the_loss_and_keeps_each_voice_in_one_split(audio_run: Path) -> None:
    losses = [row["loss"] for row in read_jsonl(audio_run / "metrics.jsonl") if "loss" in row]
    assert losses[-1] < losses[0] * 0.7
    voices = {}
    for split in ("train", "validation", "test"):
        for row in read_jsonl(audio_run / "splits" / f"{split}.jsonl"):
            voices.setdefault(Path(row["file"]).stem.split("-")[0], set()).add(split)
    assert all(len(splits) == 1 for splits in voices.values()) and len(voices) == 5
    evaluation = json.loads((audio_run / "evaluation.json").read_text())
    assert {"accuracy", "macro_f1", "confusion_matrix_png", "mistakes_png"} <= set(evaluation)
    # The frozen encoder's probe fitted on the training files (Whisper's frames, pooled) and scored on the test split.
    assert evaluation["linear_probe"]["train_rows"] == evaluation["train_size"]
    assert 0 <= evaluation["linear_probe"]["macro_f1"] <= 1
    assert [row["input"] for row in read_jsonl(audio_run / "predictions.jsonl")] == [
        row["file"] for row in read_jsonl(audio_run / "splits" / "test.jsonl")
    ]
    saved = json.loads((audio_run / "model" / "config.json").read_text())
    assert saved["max_source_positions"] == 25  # 0.5 s of 20 ms positions, not Whisper's 30 s
    assert json.loads((audio_run / "model" / "audio.json").read_text())["clip_seconds"] == 0.5


@pytest.mark.slow
def test_predict_takes_a_wav_as_raw_bytes_multipart_and_base64(audio_url: str) -> None:
    status, raw = _post(audio_url + "/predict", _wav(220.0), "audio/wav")
    assert status == 200 and isinstance(raw, list)
    assert {entry["label"] for entry in raw} == {"low", "high"}
    assert abs(sum(entry["score"] for entry in raw) - 1) < 1e-4
    # Another rate and stereo are read the same way.
    status, odd = _post(audio_url + "/predict", _wav(220.0, rate=44100, channels=2), "audio/x-wav")
    assert status == 200 and len(odd) == 2
    boundary = "tunechatboundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + _wav(1760.0)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, multipart = _post(audio_url + "/predict", form, f"multipart/form-data; boundary={boundary}")
    assert status == 200 and len(multipart) == 2
    encoded = base64.b64encode(_wav(1760.0)).decode()
    status, many = _post(
        audio_url + "/predict", json.dumps({"inputs": [encoded, encoded]}).encode(), "application/json"
    )
    assert status == 200 and len(many) == 2 and many[0] == many[1]
    assert many[0] == multipart


@pytest.mark.slow
def test_predict_refuses_bad_audio_in_one_sentence(audio_url: str) -> None:
    status, body = _post(audio_url + "/predict", b"RIFF\x00\x00\x00\x00WAVEnot audio at all", "audio/wav")
    assert status == 400 and body["error"].startswith("The request body is not a readable audio file (")
    long = _long_wav()
    status, body = _post(audio_url + "/predict", long, "audio/wav")
    assert status == 400 and body["error"].startswith("The request body lasts 30 minutes, longer than the 10 minutes")


def _long_wav() -> bytes:
    import io

    out = io.BytesIO()
    soundfile.write(out, np.zeros(1000 * 1800, dtype=np.float32), 1000, subtype="PCM_U8", format="WAV")
    return out.getvalue()


@pytest.mark.slow
def test_the_user_can_turn_the_voice_split_off_from_the_tool_and_the_command_line(tmp_path: Path) -> None:
    from tools.context import ToolContext
    from tools.data_tools import propose_plan
    from ui.cli import build_parser
    from ui.cli.training import _settings

    ctx = ToolContext.from_env()
    ctx.workspace.create()
    uploaded = ctx.workspace.import_file(zip_folder(tone_folder(tmp_path / "tones", per_class=6), tmp_path / "t.zip"))
    assert propose_plan(ctx, uploaded.name).config["group_split"] is True
    plan = propose_plan(ctx, uploaded.name, group_split=False)
    assert plan.config["group_split"] is False and "stratified" in plan.reasons["split"]
    args = build_parser().parse_args(["train", "--data", "t.zip", "--no-group-split"])
    assert _settings(args)["group_split"] is False
