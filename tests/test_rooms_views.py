"""The Compare, Data and Settings rooms as plain data: runs picked and compared (curves, settings with differences
marked, metrics, the explanation), this chat's files only (a preview with line numbers, the detected task, problems
with lines, the contact sheet staged), and the backend settings shown without a key and saved with the CLI's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import toy_audio
from room_runs import finished_run
from toy_images import write_class_folders, zip_folder

from agent.assistant import Assistant
from agent.backends import BackendChoice
from agent.settings import settings_path
from tools.pending import pending_action
from trainer.core.errors import UserError
from ui.render import MARKDOWN
from ui.rooms.compare import compare_view
from ui.rooms.compare_view import DIFFERS, PICK_TWO, picked_ids, run_choices, thinned
from ui.rooms.data import chat_files, data_view
from ui.rooms.data_view import NO_CHAT, ReportCache, media_of
from ui.rooms.settings_view import IMPLIED, backend_rows, key_state, save_llm, saved_form
from ui.web_access import ImageStage

PNG = b"\x89PNG\r\n\x1a\n"
SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


def new_assistant() -> Assistant:
    """The assistant on the test's fresh workspace (conftest's offline_workspace)."""
    return Assistant(presenter=MARKDOWN)


def test_compare_overlays_curves_marks_differences_and_explains_two_runs() -> None:
    assistant = new_assistant()
    ws, registry = assistant.workspace, assistant.registry
    first = finished_run(ws, registry, [0.7, 0.6, 0.5, 0.45], 0.70)
    second = finished_run(ws, registry, [0.7, 0.5, 0.3, 0.2], 0.90, learning_rate=1e-4)

    assert [run_id for _, run_id in run_choices(registry.list_runs())] == [second, first]  # newest first
    session = assistant.new_session()
    summary, curves, settings, metrics, explanation = compare_view(assistant, [str(first), second, first], session)

    assert f"Best: run {second}" in summary
    # One series per run, training loss only (the validation lines' eval_loss stays off).
    assert sorted(set(curves["run"])) == [f"run {first}", f"run {second}"]
    assert list(curves[curves["run"] == f"run {second}"]["loss"]) == [0.7, 0.5, 0.3, 0.2]
    assert 9.0 not in set(curves["loss"])
    # The one differing setting comes first and is marked; equal ones are not.
    assert list(settings.columns) == ["", "setting", f"run {first}", f"run {second}"]
    assert list(settings.iloc[0]) == [DIFFERS, "learning_rate", "5e-5", "1e-4"]
    assert (settings.iloc[1:][""] == "").all()
    macro = metrics[metrics["metric"] == "macro_f1"].iloc[0]
    assert list(macro) == ["macro_f1", "0.7", "0.9", f"run {second}"]
    # Two runs: the explanation, without making a plan that waits for a yes.
    assert f"Run {second} beat run {first}" in explanation and "learning_rate" in explanation
    assert "learning rate 2e-4" in explanation and pending_action(assistant.context(session)) is None


def test_a_long_curve_is_thinned_evenly_and_keeps_its_last_point() -> None:
    curve = [(step, 1.0 / step) for step in range(1, 5002)]
    kept = thinned(curve, points=1000)
    assert len(kept) <= 1001 and kept[0] == curve[0] and kept[-1] == curve[-1]
    assert kept[1][0] - kept[0][0] == 6  # every 6th step of 5001
    assert thinned(curve[:10], points=1000) == curve[:10]


def test_compare_asks_for_two_runs_and_names_an_unknown_one() -> None:
    assistant = new_assistant()
    only = finished_run(assistant.workspace, assistant.registry, [0.5, 0.4], 0.8)
    assert compare_view(assistant, [only], None)[0] == PICK_TWO
    assert picked_ids(["2", "x", None, 2, 3.0]) == [2, 3]
    summary, curves, *_ = compare_view(assistant, [only, 99], None)
    assert "99" in summary and curves is None


def write_csv(path: Path) -> Path:
    rows = [f"ticket {i} about the printer,{'urgent' if i % 3 == 0 else 'normal'}" for i in range(40)]
    path.write_text("\n".join(["text,label", *rows, "ticket 5 about the printer,urgent", ",normal"]) + "\n")
    return path


def test_data_room_shows_only_this_chats_file_with_lines_task_and_problems(tmp_path: Path) -> None:
    assistant = new_assistant()
    mine, other = assistant.new_session(), assistant.new_session()
    assistant.workspace.import_file(write_csv(tmp_path / "tickets.csv"), session_id=mine)
    assistant.workspace.import_file(write_csv(tmp_path / "secret.csv"), session_id=other)
    assistant.workspace.import_file(write_csv(tmp_path / "cli.csv"))  # the command line's uploads/ itself
    stage = ImageStage(assistant.workspace)

    assert [name for _, name in chat_files(assistant, mine)] == ["tickets.csv"]
    assert chat_files(assistant, None) == []  # no chat yet is not "every file"
    assert data_view(assistant, None, "cli.csv", stage)[0] == NO_CHAT
    refused = data_view(assistant, mine, "secret.csv", stage)
    assert "There is no file 'secret.csv' in this chat" in refused[0] and refused[1].empty

    overview, preview, problems, sheet, *clips = data_view(assistant, mine, "tickets.csv", stage)
    assert "Detected task: `text-classification`" in overview and "42 rows" in overview
    assert list(preview.columns) == ["line", "text", "label"]
    assert list(preview.iloc[0]) == ["2", "ticket 0 about the printer", "urgent"]  # the header is line 1
    assert len(preview) == 20
    by_line = dict(zip(problems["lines"], problems["problem"], strict=True))
    assert "empty" in by_line["line 43"] and "repeats" in by_line["line 42"]
    assert sheet["visible"] is False and all(clip["visible"] is False for clip in clips)


def test_an_unchanged_file_is_inspected_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tickets.csv")
    cache, calls = ReportCache(size=1), []

    def inspect() -> dict[str, int]:
        calls.append(1)
        return {"rows": len(calls)}

    assert cache.get(path, inspect) == cache.get(path, inspect) == {"rows": 1}
    path.write_text(path.read_text() + "one more,normal\n")  # a new version of the file is inspected again
    assert cache.get(path, inspect) == {"rows": 2} and len(calls) == 2


def test_data_room_stages_the_contact_sheet_of_an_image_zip(tmp_path: Path) -> None:
    assistant = new_assistant()
    session = assistant.new_session()
    archive = zip_folder(write_class_folders(tmp_path / "colours", per_class=4), tmp_path / "colours.zip")
    assistant.workspace.import_file(archive, session_id=session)
    stage = ImageStage(assistant.workspace)

    overview, preview, problems, sheet, *clips = data_view(assistant, session, "colours.zip", stage)
    assert "image-classification" in overview
    staged = Path(sheet["value"])
    assert sheet["visible"] and staged.parent == stage.folder and staged.read_bytes().startswith(PNG)
    assert not preview.empty


def test_data_room_offers_a_few_recordings_of_a_sound_zip_to_play(tmp_path: Path) -> None:
    assistant = new_assistant()
    session = assistant.new_session()
    archive = toy_audio.zip_folder(toy_audio.tone_folder(tmp_path / "tones", per_class=3), tmp_path / "tones.zip")
    assistant.workspace.import_file(archive, session_id=session)
    stage = ImageStage(assistant.workspace)

    overview, _, _, _, *clips = data_view(assistant, session, "tones.zip", stage)
    assert "audio-classification" in overview
    played = [Path(clip["value"]) for clip in clips if clip["visible"]]
    assert played and all(path.parent == stage.folder and path.suffix == ".wav" for path in played)
    assert all(path.read_bytes()[8:12] == b"WAVE" for path in played)


def test_media_is_taken_only_from_the_known_key_inside_tunechats_folders(tmp_path: Path) -> None:
    assistant = new_assistant()
    planted = tmp_path / "planted.png"
    planted.write_bytes(PNG + b"data")
    assert media_of({"contact_sheet_png": str(planted), "clips": [str(planted)]}, assistant.workspace) == (None, [])


def test_settings_show_the_backend_and_whether_a_key_is_set_never_the_key() -> None:
    choice = BackendChoice(kind="openai", model="gpt-4.1-mini", sources={"kind": "env OPENAI_API_KEY"})
    rows = backend_rows(choice, {"OPENAI_API_KEY": SECRET})
    assert ["backend", "openai", "env OPENAI_API_KEY"] in rows
    assert ["API key", "set (OPENAI_API_KEY)", ""] in rows
    assert SECRET not in json.dumps(rows)
    assert key_state(choice, {}) == "not set (OPENAI_API_KEY)"
    named = BackendChoice(kind="openai-compatible", base_url="http://127.0.0.1:9/v1", api_key_env="GROQ_KEY")
    assert key_state(named, {"GROQ_KEY": SECRET}) == "set (GROQ_KEY)"
    assert key_state(BackendChoice(kind="guided"), {"OPENAI_API_KEY": SECRET}) == "not needed"


def test_settings_save_checks_like_the_cli_and_refuses_before_writing() -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"llm": {"max_new_tokens": 256, "model": "old"}}))
    form = {"backend": "openai-compatible", "base_url": "http://127.0.0.1:11434/v1", "model": "qwen2.5:7b"}

    choice = save_llm(path, {**form, "path": "", "api_key_env": "AWS_SECRET_ACCESS_KEY"}, environ={})
    saved = json.loads(path.read_text())
    # Other keys stay, empty fields are not written, and the key variable is not the browser's to choose.
    assert saved == {"llm": {"max_new_tokens": 256, **form}}
    assert choice.kind == "openai-compatible" and choice.model == "qwen2.5:7b"
    assert saved_form(path)["base_url"] == form["base_url"]

    before = path.read_text()
    with pytest.raises(UserError, match="must not store an API key"):
        save_llm(path, {**form, "model": SECRET}, environ={})
    with pytest.raises(UserError, match="needs a model folder"):
        save_llm(path, {"backend": "local"}, environ={})
    with pytest.raises(UserError, match="needs the server's URL"):
        save_llm(path, {"backend": "openai-compatible", "model": "m"}, environ={})
    with pytest.raises(UserError, match="sends OPENAI_API_KEY to its base URL"):
        save_llm(path, {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}, environ={})
    assert path.read_text() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".settings-check-")]

    save_llm(path, {"backend": IMPLIED}, environ={})
    assert json.loads(path.read_text()) == {"llm": {"max_new_tokens": 256}}


def test_settings_keep_a_named_key_going_to_the_server_it_was_set_for() -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    server = {"backend": "openai-compatible", "base_url": "https://api.groq.com/openai/v1", "api_key_env": "GROQ_KEY"}
    path.write_text(json.dumps({"llm": server}))
    # The model may change; the server that gets the key may not, from the browser.
    choice = save_llm(path, {"backend": "openai-compatible", "base_url": server["base_url"], "model": "llama"}, {})
    assert choice.model == "llama" and json.loads(path.read_text())["llm"]["api_key_env"] == "GROQ_KEY"
    with pytest.raises(UserError, match="The key in GROQ_KEY goes to the saved server"):
        save_llm(path, {"backend": "openai-compatible", "base_url": "http://attacker.example/v1", "model": "x"}, {})
    assert json.loads(path.read_text())["llm"]["base_url"] == server["base_url"]
