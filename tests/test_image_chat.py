"""An image zip in the chat: inspected (with a contact sheet shown), planned as image classification, and only the
pictures tunechat drew are shown, never a file the upload holds or names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_images import write_class_folders, zip_folder

from agent.assistant import Assistant
from agent.images import result_images
from trainer.core.workspace import Workspace
from trainer.tasks.media.report import SHEETS
from ui.render import MARKDOWN

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_guided_chat_inspects_an_image_zip_and_plans_image_classification(tmp_path: Path) -> None:
    folder = write_class_folders(tmp_path / "colours", per_class=6)
    archive = zip_folder(folder, tmp_path / "colours.zip")
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()

    inspected = assistant.reply(session, "inspect this", files=[archive])
    assert "image classification" in inspected.text and "image size in pixels" in inspected.text
    assert "fine-tune on this" in inspected.text
    # The contact sheet is shown: a PNG tunechat drew in the workspace, not one of the uploaded images.
    [sheet] = inspected.images
    root = assistant.workspace.root.resolve()
    assert Path(sheet).is_relative_to(root.joinpath(SHEETS)) and Path(sheet).read_bytes().startswith(PNG)

    planned = assistant.reply(session, "fine-tune on this")
    assert "**Plan** for `colours.zip`" in planned.text and "linear probe" in planned.text
    assert "efficientnet-lite0" in planned.text and "horizontal flip" in planned.text
    assert assistant.registry.list_runs() == []  # nothing starts before "go"


def test_only_known_result_keys_inside_the_workspace_folders_become_images(tmp_path: Path) -> None:
    ws = Workspace.from_env()
    ws.create()
    sheets = ws.root.joinpath(SHEETS)
    sheets.mkdir(parents=True)
    sheet = sheets / "a.png"
    sheet.write_bytes(PNG + b"sheet")
    mistakes = ws.run_dir(1) / "mistakes.png"
    mistakes.parent.mkdir(parents=True)
    mistakes.write_bytes(PNG + b"gallery")
    unpacked = ws.root / "prepared" / "media-0123" / "cats" / "cat.png"  # an uploaded image, unpacked
    unpacked.parent.mkdir(parents=True)
    unpacked.write_bytes(PNG + b"data")
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(PNG)

    assert result_images("inspect_data", {"contact_sheet_png": str(sheet)}, ws) == [str(sheet.resolve())]
    assert result_images("evaluate_run", {"mistakes_png": str(mistakes)}, ws) == [str(mistakes.resolve())]
    # A path from the data under a known key, a file outside the shown folders, or an unknown key: nothing.
    for result in (
        {"contact_sheet_png": str(unpacked)},
        {"contact_sheet_png": str(outside)},
        {"samples": [{"file": str(sheet)}]},
        {"plot": json.dumps(str(sheet))},
    ):
        assert result_images("inspect_data", result, ws) == [], result
    assert result_images("prepare_data", {"contact_sheet_png": str(sheet)}, ws) == []
