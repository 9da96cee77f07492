"""The Data room: the files dropped into the chat on screen (never another chat's), the first rows of the one picked,
the task the inspection detects, its problems with line numbers, and for media data the contact sheet and a few
recordings. A file is opened only as the chat's own inspect_data tool opens it (tools/session_files.py resolves the
name inside this chat's uploads); pictures and recordings reach the browser only through the app's staged folder."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from agent.assistant import Assistant
from tools.data_tools import inspect_data
from tools.session_files import chat_uploads, resolve_file
from trainer.core.errors import UserError
from ui.render.safe import prose
from ui.rooms import Room
from ui.rooms.data_view import (
    CLIPS_SHOWN,
    NO_CHAT,
    NO_FILES,
    PROBLEM_HEADERS,
    ReportCache,
    file_choices,
    media_of,
    overview_markdown,
    preview_frame,
    problems_frame,
)
from ui.rooms.wiring import on_show
from ui.web_view import ImageRef


def chat_files(assistant: Assistant, session_id: str | None) -> list[tuple[str, str]]:
    """This chat's files as (label, name); none before the chat has started (no session is not "every file")."""
    if not session_id:
        return []
    return file_choices(chat_uploads(assistant.context(session_id)))


# Reports are data about a file; the key is the resolved path, which only this chat's resolve_file hands out.
REPORTS = ReportCache()


def data_view(assistant: Assistant, session_id: str | None, name: str | None, image_ref: ImageRef) -> tuple[Any, ...]:
    """(overview, preview, problems, sheet, *clips) for the picked file of this chat."""
    hidden = [gr.update(value=None, visible=False)] * (1 + CLIPS_SHOWN)
    empty = pd.DataFrame([], columns=PROBLEM_HEADERS)
    if not session_id:
        return NO_CHAT, pd.DataFrame([]), empty, *hidden
    if not name:
        text = "Pick a file to see it." if chat_files(assistant, session_id) else NO_FILES
        return text, pd.DataFrame([]), empty, *hidden
    ctx = assistant.context(session_id)
    try:
        path = resolve_file(ctx, name)
        report = REPORTS.get(path, lambda: inspect_data(ctx, name))
    except UserError as error:
        return prose(str(error)), pd.DataFrame([]), empty, *hidden
    sheet, clips = media_of(report, assistant.workspace)
    staged_sheet = image_ref(sheet) if sheet else None
    staged_clips = [staged for staged in (image_ref(clip) for clip in clips) if staged]
    media = [gr.update(value=staged_sheet, visible=staged_sheet is not None)]
    media += [
        gr.update(value=staged_clips[i], visible=True)
        if i < len(staged_clips)
        else gr.update(value=None, visible=False)
        for i in range(CLIPS_SHOWN)
    ]
    return overview_markdown(report), preview_frame(path, report), problems_frame(report), *media


def add_data_room(room: Room) -> None:
    """The Data room's components and events, inside ui/web.py's `with gr.Tab("Data") as tab:`. `room.image_ref`
    stages a picture or recording for the browser (ui/web_access.py ImageStage), the one way media leave the app."""
    assistant, session, image_ref = room.assistant, room.session, room.image_ref

    def files(session_id: str | None, picked: str | None) -> Any:
        choices = chat_files(assistant, session_id)
        names = [name for _, name in choices]
        value = picked if picked in names else (names[0] if names else None)
        return gr.update(choices=choices, value=value)

    with gr.Row():
        picker = gr.Dropdown(choices=[], value=None, label="This chat's files", scale=5)
        refresh = gr.Button("Refresh files", size="sm", scale=1)
    overview = gr.Markdown(NO_CHAT)
    preview = gr.Dataframe(value=None, interactive=False, wrap=True, label="First rows (with their file line)")
    problems = gr.Dataframe(value=None, interactive=False, wrap=True, label="Problems the inspection found")
    sheet = gr.Image(label="Contact sheet (a row of examples per class)", visible=False, interactive=False)
    with gr.Row():
        clips = [gr.Audio(label=f"Recording {i + 1}", visible=False, interactive=False) for i in range(CLIPS_SHOWN)]

    def show(session_id: str | None, name: str | None) -> tuple[Any, ...]:
        return data_view(assistant, session_id, name, image_ref)

    outputs = [overview, preview, problems, sheet, *clips]
    # Opening the tab (files may have been dropped into the chat since) refreshes the list, then what is shown: the
    # same name may hold a new upload.
    listed = on_show(room, files, [session, picker], [picker], also=[refresh.click])
    listed.then(show, [session, picker], outputs, api_visibility="private")
    picker.input(show, [session, picker], outputs, api_visibility="private")
