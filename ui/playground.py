"""The web UI's playground: pick a finished run or a live deployment, give it what its model reads (a message, a
text or a text pair, an image, a sound clip dropped or recorded), and see its answer beside its base model's and
beside another run's, on the same input.

The steps and what they show are plain data (ui/playground_steps.py, ui/playground_render.py); this module turns
them into Gradio updates and wires the components. Each try runs in Gradio's worker threads, never on the
server's event loop. Answers are plain text (the chat panels render no markdown); an uploaded file is read only
from Gradio's own upload folder and copied into the workspace (uploads/playground/) before its bytes are read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.serve.play_targets import AUDIO, CHAT, IMAGE, LABEL_KINDS, MEDIA_KINDS
from trainer.serve.playground import PLAY_TOKENS, Answer, Playground, Scores
from trainer.store.registry import Registry
from ui.playground_render import (
    HEADINGS,
    NOTHING_COMPARED,
    SIDES,
    Panel,
    answer_text,
    describe,
    empty_histories,
    labels_of,
    panel,
)
from ui.playground_render import shown as conversation_shown
from ui.playground_steps import Request, Step, steps

log = logging.getLogger(__name__)

TITLE = "Playground: try a finished run or a deployment beside its base model"
PICK = "Pick a finished run or a live deployment, give it an input and press **Send**."
UPLOADS_SESSION = "playground"  # uploads/playground/ in the workspace
NO_OTHER = ("none", "")


class PlaygroundView:
    """The playground's event handlers over one Playground, as plain functions (tests call them directly)."""

    def __init__(self, playground: Playground):
        self.playground = playground

    def choices(self) -> tuple[Any, Any]:
        """The runs and deployments to pick from (deployments first, then runs newest first), for both pickers."""
        choices = [(choice.label, choice.value) for choice in self.playground.choices()]
        return gr.update(choices=choices), gr.update(choices=[("none", ""), *choices])

    def describe(self, value: Any) -> tuple[Any, ...]:
        """What a picked run is (or why it cannot be tried), and which inputs and panels it uses: the note; the
        message, second text, image, audio and token inputs; the chat and label panels of each side; the
        conversations (emptied)."""
        if value in (None, ""):
            return (PICK, *self._layout(CHAT, False), empty_histories())
        try:
            target, kind, pairs = self.playground.target(value)
        except UserError as error:
            return (f"⚠️ {error}", *[gr.skip()] * (len(self._layout(CHAT, False)) + 1))
        return (describe(kind, pairs, target.name), *self._layout(kind, pairs), empty_histories())

    @staticmethod
    def _layout(kind: str, pairs: bool) -> list[Any]:
        text = gr.update(visible=kind not in MEDIA_KINDS, label="First text" if pairs else "Message")
        inputs = [
            text,
            gr.update(visible=pairs and kind != CHAT),
            gr.update(visible=kind == IMAGE),
            gr.update(visible=kind == AUDIO),
            gr.update(visible=kind == CHAT),
        ]
        chats = [gr.update(visible=kind == CHAT, value=[]) for _ in SIDES]
        labels = [gr.update(visible=kind in LABEL_KINDS, value=None) for _ in SIDES]
        notes = ["" for _ in SIDES]
        return [*inputs, *chats, *labels, *notes]

    def play(
        self,
        value: Any,
        other: Any,
        message: str | None,
        pair: str | None,
        image: str | None,
        audio: str | None,
        tokens: float | None,
        histories: dict[str, Any] | None,
    ) -> Iterator[tuple[Any, ...]]:
        """One try: the status line, the conversations, then each side's chat, labels and note, step by step."""
        try:
            kind = self.playground.target(value)[1]
            data = self.upload_bytes({IMAGE: image, AUDIO: audio}.get(kind))
            compared = other if other not in NO_OTHER else None
            request = Request(value, compared, message or "", pair or "", data, int(tokens or PLAY_TOKENS))
            for step in steps(self.playground, request, histories):
                yield self._shown(step)
        except UserError as error:
            yield (f"⚠️ {error}", *[gr.skip()] * (1 + 3 * len(SIDES)))
        except Exception as error:  # keep the page alive and say what broke; the details go to the console
            log.exception("the playground failed")
            yield (f"⚠️ Something went wrong: {type(error).__name__}: {error}", *[gr.skip()] * (1 + 3 * len(SIDES)))

    @staticmethod
    def _shown(step: Step) -> tuple[Any, ...]:
        """A step as Gradio updates; a side still working shows the user's message (a chat) and no old scores."""
        chats, labels, notes = [], [], []
        for side in SIDES:
            outcome = step.outcomes.get(side)
            shown = panel(outcome, step.kind, step.histories[side]) if outcome is not None else Panel(note="")
            chats.append(conversation_shown(step.histories[side]) if step.kind == CHAT else gr.skip())
            labels.append(shown.labels if step.kind in LABEL_KINDS else gr.skip())
            notes.append(NOTHING_COMPARED if step.done and side not in step.outcomes else shown.note)
        return (step.status, step.histories, *chats, *labels, *notes)

    def clear(self) -> tuple[Any, ...]:
        """Start the conversations again."""
        return ("", empty_histories(), *[[] for _ in SIDES], *[None for _ in SIDES], *["" for _ in SIDES])

    def upload_bytes(self, path: str | None) -> bytes:
        """The bytes of a file dropped into the playground: only from Gradio's upload folder (a path an API caller
        names anywhere else is refused), copied into the workspace's uploads/playground/ first."""
        if not path:
            return b""
        source = Path(path).resolve()
        folder = Path(get_upload_folder()).resolve()
        if not source.is_relative_to(folder) or not source.is_file():
            raise UserError("That file was not uploaded here; drop the file into the playground to try it.")
        kept = self.playground.workspace.import_file(source, session_id=UPLOADS_SESSION)
        return kept.read_bytes()

    def send(self, value: Any, message: str | None, tokens: float | None = PLAY_TOKENS) -> Iterator[tuple]:
        """One message (or text) for the picked run and its base, as plain values: the status line, the tuned
        model's reply, the base model's reply, and a classifier's labels (the `/playground` API)."""
        try:
            request = Request(value, text=message or "", tokens=int(tokens or PLAY_TOKENS))
            _, kind, pairs = self.playground.target(value)
            if pairs:
                first, _, second = (message or "").partition("\n")
                request = Request(value, text=first, pair=second, tokens=request.tokens)
            for step in steps(self.playground, request, None):
                yield _plain(step)
        except UserError as error:
            yield f"⚠️ {error}", gr.skip(), gr.skip(), gr.skip()
        except Exception as error:  # keep the page alive and say what broke; the details go to the console
            log.exception("the playground failed")
            yield f"⚠️ Something went wrong: {type(error).__name__}: {error}", gr.skip(), gr.skip(), gr.skip()


def _plain(step: Step) -> tuple[Any, Any, Any, Any]:
    tuned, base = step.outcomes.get("tuned"), step.outcomes.get("base")
    if step.kind == CHAT:
        texts = [answer_text(outcome) if isinstance(outcome, Answer) else "" for outcome in (tuned, base)]
        return step.status, texts[0], texts[1], None
    labels = labels_of(tuned) if isinstance(tuned, Scores) and tuned.labels else None
    return step.status, None, None, labels if labels is not None else gr.skip()


def add_playground(workspace: Workspace, registry: Registry, opened: Any) -> PlaygroundView:
    """The playground's components and events, added to the Blocks being built (its own tab); `opened` is the tab,
    whose selection fills the pickers with the runs and deployments there are now."""
    view = PlaygroundView(Playground(workspace, registry))
    gr.Markdown(f"**{TITLE}**")
    with gr.Row():
        run = gr.Dropdown(label="Run", choices=[], value=None, scale=4, allow_custom_value=True)
        other = gr.Dropdown(label="Compare with", choices=[], value=None, scale=4, allow_custom_value=True)
        refresh = gr.Button("Refresh runs", size="sm", scale=1)
    note = gr.Markdown(PICK)
    with gr.Row():
        message = gr.Textbox(label="Message", placeholder="Who are you?", lines=2, scale=4)
        pair = gr.Textbox(label="Second text", lines=2, scale=4, visible=False)
        tokens = gr.Slider(16, 512, value=PLAY_TOKENS, step=16, label="Max new tokens", scale=1)
    with gr.Row():
        image = gr.Image(
            label="Image",
            type="filepath",
            image_mode=None,
            sources=["upload", "clipboard"],
            visible=False,
            elem_id="playground-image",
        )
        audio = gr.Audio(
            label="Sound clip",
            type="filepath",
            sources=["upload", "microphone"],
            visible=False,
            elem_id="playground-audio",
        )
    with gr.Row():
        send = gr.Button("Send", variant="primary", scale=4)
        clear = gr.Button("Clear conversation", size="sm", scale=1)
    status = gr.Markdown("")
    histories = gr.State(empty_histories())
    chats, labels, notes = [], [], []
    with gr.Row(equal_height=False):
        for side in SIDES:
            with gr.Column():
                chats.append(gr.Chatbot(label=HEADINGS[side], height=420, render_markdown=False, buttons=["copy"]))
                labels.append(gr.Label(label=HEADINGS[side], visible=False, num_top_classes=10))
                notes.append(gr.Markdown(""))

    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    opened.select(view.choices, None, [run, other], **private)
    refresh.click(view.choices, None, [run, other], api_name="playground_runs", show_progress="hidden")
    layout = [message, pair, image, audio, tokens, *chats, *labels, *notes, histories]
    run.change(view.describe, [run], [note, *layout], **private)
    events: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "playground", "show_progress": "minimal"}
    inputs = [run, other, message, pair, image, audio, tokens, histories]
    outputs = [status, histories, *chats, *labels, *notes]
    send.click(view.play, inputs, outputs, api_visibility="private", **events)
    message.submit(view.play, inputs, outputs, api_visibility="private", **events)
    clear.click(view.clear, None, [status, histories, *chats, *labels, *notes], **private)
    gr.api(_api(view), api_name="playground", concurrency_limit=1, concurrency_id="playground")
    return view


def _api(view: PlaygroundView) -> Any:
    def playground(run: str, message: str, max_new_tokens: int = PLAY_TOKENS) -> tuple[str, str, str, dict]:
        """Send one message (or text) to a run and its base model: the status, both replies, a classifier's labels."""
        *_, last = view.send(run, message, max_new_tokens)
        return tuple(None if isinstance(item, dict) and item.get("__type__") == "update" else item for item in last)  # type: ignore[return-value]

    return playground
