"""Sounds in the chat: a zip of class folders is inspected (durations, rates, clipping, silence) with a few
recordings offered to play, planned as audio classification, and only recordings tunechat wrote are played."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from toy_audio import tone, tone_folder, write_sound, zip_folder

from agent.assistant import Assistant
from agent.clips import result_clips
from agent.images import result_images
from trainer.core.workspace import Workspace
from trainer.tasks.media.report import CLIPS
from ui.render import MARKDOWN
from ui.web_access import ImageStage
from ui.web_view import assistant_message

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_guided_chat_inspects_a_sound_zip_offers_recordings_and_plans_audio_classification(tmp_path: Path) -> None:
    archive = zip_folder(tone_folder(tmp_path / "tones", per_class=6, voices=3), tmp_path / "tones.zip")
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()

    inspected = assistant.reply(session, "inspect this", files=[archive])
    assert "audio classification" in inspected.text and "duration in seconds" in inspected.text
    assert "silent files: none" in inspected.text and "mono (12)" in inspected.text
    sheet, *recordings = inspected.images
    assert sheet.endswith(".png") and len(recordings) == 2
    folder = assistant.workspace.root.resolve().joinpath(CLIPS)
    assert all(Path(clip).is_relative_to(folder) and Path(clip).read_bytes()[8:12] == b"WAVE" for clip in recordings)
    assert [Path(clip).name for clip in recordings] == ["1-high.wav", "2-low.wav"]

    planned = assistant.reply(session, "fine-tune on this")
    assert "**Plan** for `tones.zip`" in planned.text and "whisper-base" in planned.text
    assert "by group" in planned.text and "clip seconds" in planned.text
    assert assistant.registry.list_runs() == []  # nothing starts before "go"


def test_only_wavs_tunechat_wrote_under_the_known_key_are_played(tmp_path: Path) -> None:
    ws = Workspace.from_env()
    ws.create()
    clips = ws.root.joinpath(CLIPS) / "0123"
    good = write_sound(clips / "1-low.wav", tone(220.0))
    fake = clips / "2-high.wav"
    fake.write_bytes(PNG + bytes(20))  # not a WAV, whatever its name
    uploaded = write_sound(ws.root / "prepared" / "media-0123" / "tones" / "low" / "a.wav", tone(220.0))
    outside = write_sound(tmp_path / "elsewhere.wav", tone(220.0))
    link = clips / "3-link.wav"
    os.symlink(outside, link)

    assert result_clips("inspect_data", {"clips": [str(good)]}, ws) == [str(good.resolve())]
    assert result_images("inspect_data", {"clips": [str(good)]}, ws) == [str(good.resolve())]
    for result in (
        {"clips": [str(fake)]},
        {"clips": [str(uploaded)]},
        {"clips": [str(outside)]},
        {"clips": [str(link)]},
        {"clips": str(good)},  # not a list
        {"samples": [{"file": str(good)}]},
    ):
        assert result_clips("inspect_data", result, ws) == [], result
    assert result_clips("evaluate_run", {"clips": [str(good)]}, ws) == []


def test_the_web_chat_plays_a_private_copy_of_the_checked_recording(tmp_path: Path) -> None:
    ws = Workspace.from_env()
    ws.create()
    good = write_sound(ws.root.joinpath(CLIPS) / "0123" / "1-low.wav", tone(220.0))
    uploaded = write_sound(ws.uploads / "a.wav", tone(220.0))
    stage = ImageStage(ws)
    served = stage(str(good))
    assert served is not None and served.endswith(".wav") and Path(served).parent == stage.folder
    assert Path(served).read_bytes() == good.read_bytes()
    assert stat.S_IMODE(Path(served).stat().st_mode) == 0o600
    assert stage(str(uploaded)) is None
    message = assistant_message("Here are a few recordings.", [str(good), str(uploaded)], stage)
    assert message["content"] == ["Here are a few recordings.", {"path": served}]


def test_the_one_line_plan_names_each_tasks_own_settings() -> None:
    from tools.wording import settings_line

    common = {"model": "m", "epochs": 3, "learning_rate": 0.001, "batch_size": 16, "max_length": 128}
    sound = settings_line({**common, "task": "audio-classification", "clip_seconds": 1.5, "freeze_layers": 6})
    picture = settings_line({**common, "task": "image-classification", "image_size": 48, "clip_seconds": 1.5})
    text = settings_line({**common, "task": "text-classification", "image_size": 48})
    assert "clip seconds 1.5" in sound and "freeze layers 6" in sound and "max length" not in sound
    assert "image size 48" in picture and "clip seconds" not in picture and "max length" not in picture
    assert "max length 128" in text and "image size" not in text
