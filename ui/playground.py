"""The web UI's playground: pick a finished run, type a message, and read the tuned model's answer beside its base
model's answer (a text classifier shows its labels and scores instead).

The models run in this process (trainer/serve/playground.py loads and caches them); each request runs in Gradio's
worker threads, never on the server's event loop, and says what it is doing (loading, answering) while it works.
Answers are shown as plain text, never rendered as markdown or HTML: a model's words are data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.serve.playground import CHAT, CLASSIFIER, EMPTY_MESSAGE, PLAY_TOKENS, Answer, Playground
from trainer.store.registry import Registry

log = logging.getLogger(__name__)

TITLE = "Playground: try a finished run beside its base model"
PICK = "Pick a finished run, type a message and press **Send**."
CHAT_NOTE = "A chat run: it answers your message, and its base model answers the same message beside it."
CLASSIFIER_NOTE = "A text classifier: it scores your text (a text-pair model takes the second text on the next line)."


@dataclass(frozen=True)
class Shown:
    """What the playground shows after a step: the status line, the two answers, the classifier's scores."""

    status: str
    tuned: Any = None
    base: Any = None
    scores: Any = None

    def outputs(self) -> tuple[Any, Any, Any, Any]:
        return self.status, self.tuned, self.base, self.scores


def run_id_of(value: Any) -> int:
    """The run id a dropdown value (or an API caller) gives; UserError for anything else."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserError("Pick a run from the list first; the playground tries one run at a time.") from None


def answer_text(answer: Answer) -> str:
    ending = "" if answer.stopped else " (cut at the token limit)"
    return f"{answer.text}\n\n— {answer.model}, {answer.seconds:.1f} s{ending}"


class PlaygroundView:
    """The playground's event handlers over one Playground, as plain functions (tests call them directly)."""

    def __init__(self, playground: Playground):
        self.playground = playground

    def choices(self) -> Any:
        """The runs to pick from, newest first."""
        return gr.update(choices=[(choice.label, str(choice.run_id)) for choice in self.playground.runs()])

    def describe(self, value: Any) -> tuple[Any, ...]:
        """What a picked run is (or why it cannot be tried), and which inputs and outputs it uses: the note, the
        two answers, the scores and the token limit."""
        if value in (None, ""):
            shown = gr.update(visible=True)
            return PICK, shown, shown, gr.update(visible=False), shown
        try:
            _, _, kind = self.playground.check(run_id_of(value))
        except UserError as error:
            return f"⚠️ {error}", gr.skip(), gr.skip(), gr.skip(), gr.skip()
        chat = kind == CHAT
        note = CHAT_NOTE if chat else CLASSIFIER_NOTE
        answers = gr.update(visible=chat, value=None)
        return note, answers, answers, gr.update(visible=not chat, value=None), gr.update(visible=chat)

    def send(self, value: Any, message: str | None, tokens: float | None = PLAY_TOKENS) -> Iterator[tuple]:
        """Answer one message with the picked run (and its base model), saying each step while it works."""
        try:
            yield from self._send(value, message or "", int(tokens or PLAY_TOKENS))
        except UserError as error:
            yield Shown(f"⚠️ {error}", gr.skip(), gr.skip(), gr.skip()).outputs()
        except Exception as error:  # keep the page alive and say what broke; the details go to the console
            log.exception("the playground failed")
            yield Shown(f"⚠️ Something went wrong: {type(error).__name__}: {error}", gr.skip(), gr.skip()).outputs()

    def _send(self, value: Any, message: str, tokens: int) -> Iterator[tuple]:
        run_id = run_id_of(value)
        _, _, kind = self.playground.check(run_id)
        if not message.strip():
            raise UserError(EMPTY_MESSAGE)
        if kind == CLASSIFIER:
            yield Shown(self._phase(run_id, f"Run {run_id} is scoring the text…"), scores=gr.skip()).outputs()
            scored = self.playground.scores(run_id, message)
            labels = {item["label"]: item["score"] for item in scored.labels}
            yield Shown(f"Scored by {scored.model} in {scored.seconds:.1f} s.", None, None, labels).outputs()
            return
        yield Shown(self._phase(run_id, f"Run {run_id} is answering…"), "", "", None).outputs()
        tuned = self.playground.reply(run_id, message, max_new_tokens=tokens)
        base_phase = self._phase(run_id, "Its base model is answering…", base=True)
        yield Shown(base_phase, answer_text(tuned), "", None).outputs()
        base = self.playground.reply(run_id, message, base=True, max_new_tokens=tokens)
        yield Shown("Both answered, greedily (the same message, the same settings).", answer_text(tuned),
                    answer_text(base), None).outputs()  # fmt: skip

    def _phase(self, run_id: int, working: str, base: bool = False) -> str:
        if self.playground.is_loaded(run_id, base=base):
            return f"⏳ {working}"
        which = "its base model" if base else f"run {run_id}'s model"
        return f"⏳ Loading {which} (once; it stays loaded for the next messages), then: {working}"


def add_playground(workspace: Workspace, registry: Registry) -> PlaygroundView:
    """The playground's components and events, added to the Blocks being built (under the chat)."""
    view = PlaygroundView(Playground(workspace, registry))
    with gr.Accordion(TITLE, open=False) as accordion:
        with gr.Row():
            run = gr.Dropdown(label="Run", choices=[], value=None, scale=4, allow_custom_value=True)
            refresh = gr.Button("Refresh runs", size="sm", scale=1)
        note = gr.Markdown(PICK)
        with gr.Row():
            message = gr.Textbox(label="Message", placeholder="Who are you?", lines=2, scale=4)
            tokens = gr.Slider(16, 512, value=PLAY_TOKENS, step=16, label="Max new tokens", scale=1)
        send = gr.Button("Send", variant="primary")
        status = gr.Markdown("")
        with gr.Row():
            tuned = gr.Textbox(label="Tuned model (the run)", lines=6, interactive=False, buttons=["copy"])
            base = gr.Textbox(label="Base model (before training)", lines=6, interactive=False, buttons=["copy"])
        scores = gr.Label(label="Scores", visible=False, num_top_classes=10)

    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    accordion.expand(view.choices, None, [run], **private)
    refresh.click(view.choices, None, [run], api_name="playground_runs", show_progress="hidden")
    run.change(view.describe, [run], [note, tuned, base, scores, tokens], **private)
    events: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "playground", "show_progress": "minimal"}
    outputs = [status, tuned, base, scores]
    send.click(view.send, [run, message, tokens], outputs, api_name="playground", **events)
    message.submit(view.send, [run, message, tokens], outputs, api_visibility="private", **events)
    return view
