"""The Settings room: the chat backend in use (the API key only as set or not set) and a form for the llm section of
the settings file. Saving checks what `tunechat settings --set` checks and writes the file; the running app keeps its
backend until it is restarted (the assistant is built once, with its backend, when the app starts)."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from agent.settings import display_path, settings_path
from trainer.core.errors import UserError
from ui.render.safe import code, prose
from ui.rooms import Room
from ui.rooms.settings_view import (
    BACKEND_CHOICES,
    FORM_FIELDS,
    RESTART_NOTE,
    ROW_HEADERS,
    backend_rows,
    refused,
    save_llm,
    saved_form,
    saved_markdown,
)
from ui.rooms.wiring import on_show


def add_settings_room(room: Room) -> None:
    """The Settings room's components and events, inside ui/web.py's `with gr.Tab("Settings") as tab:` (the settings
    are the app's, not a chat's: the room's session is not used)."""
    assistant = room.assistant

    def current() -> tuple[str, pd.DataFrame]:
        heading = f"**In use now:** {prose(assistant.backend_description)}"
        return heading, pd.DataFrame(backend_rows(assistant.backend), columns=ROW_HEADERS)

    def form() -> tuple[Any, ...]:
        try:
            values = saved_form(settings_path())
        except UserError as error:
            gr.Warning(str(error))
            return tuple(gr.skip() for _ in FORM_FIELDS)
        return tuple(values[name] for name in FORM_FIELDS)

    def save(*values: str) -> str:
        path = settings_path()
        try:
            choice = save_llm(path, dict(zip(FORM_FIELDS, values, strict=True)))
        except UserError as error:
            return refused(error)
        return saved_markdown(path, choice)

    heading, rows = current()
    in_use = gr.Markdown(heading)
    table = gr.Dataframe(value=rows, interactive=False, wrap=True, label="Chat backend (the API key is never shown)")
    gr.Markdown(
        f"**Saved settings** in {code(display_path(settings_path()))}. {RESTART_NOTE} The variable holding an API key "
        "(api_key_env) is chosen on this machine: `tunechat settings --set llm.api_key_env=NAME`."
    )
    with gr.Row():
        backend = gr.Dropdown(choices=BACKEND_CHOICES, value=BACKEND_CHOICES[0], label="Backend")
        model = gr.Textbox(label="Model", placeholder="e.g. gpt-4.1-mini or qwen2.5:7b")
    with gr.Row():
        base_url = gr.Textbox(label="Base URL", placeholder="e.g. http://127.0.0.1:11434/v1 (OpenAI-compatible)")
        path = gr.Textbox(label="Local model folder", placeholder="a Transformers model folder (backend local)")
    save_button = gr.Button("Save settings", variant="primary")
    outcome = gr.Markdown()
    fields = {"backend": backend, "base_url": base_url, "model": model, "path": path}
    inputs = [fields[name] for name in FORM_FIELDS]
    save_button.click(save, inputs, [outcome], api_visibility="private")
    on_show(room, form, [], inputs)
    on_show(room, current, [], [in_use, table])
