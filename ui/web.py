"""The web chat (Gradio): a chatbot with file drop, each tool step shown as a collapsible message,
a runs table and a live progress panel refreshed by a timer, and earlier chats to reopen.

Training runs in its own process, so the panel only reads the registry and the run folders and
the chat stays responsive while a model trains. Everything shown is rebuilt from the registry,
so after a restart the earlier runs and chats are still there.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from agent.assistant import Assistant
from agent.types import Reply, ToolStep, TurnEvent
from tools.run_tools import list_runs, run_status
from trainer.core.errors import UserError
from trainer.store.registry import ACTIVE as ACTIVE_STATUSES

log = logging.getLogger(__name__)

EXAMPLE_PROMPTS = ("inspect my data", "train", "status", "list runs", "help")
# What trainer.data.read.load_table reads (zip archives of these too, read in memory and never extracted).
UPLOAD_TYPES = [".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt", ".parquet", ".zip"]
RUN_HEADERS = ["run", "status", "model", "data", "acc.", "F1"]
RUNS_LABEL = "Runs (acc. and macro-F1 on the test split)"
POLL_SECONDS = 2.0
# How often a running turn's queue is checked for new steps and text.
STREAM_POLL_SECONDS = 0.1
LLM_HINT = (
    "To chat with an LLM instead, set `OPENAI_API_KEY`, or start `tunechat ui` with `--llm-base-url URL "
    "--llm-model NAME` (vLLM, Ollama, llama.cpp, LM Studio, `tunechat serve`) or `--llm local --llm-path FOLDER`; "
    "`tunechat settings` shows and saves the choice."
)

# Maps an image path from a reply to something the Chatbot may serve, or None to leave it out.
ImageRef = Callable[[str], str | None]
Message = dict[str, Any]


# ---- pure conversions (unit-tested without a server) ---------------------------------------------


def existing_image(path: str) -> str | None:
    """Default ImageRef: keep the path if the file is still there (an old run may have been deleted)."""
    return path if Path(path).is_file() else None


def step_message(step: ToolStep) -> Message:
    """One tool call as a collapsed "thought" message: the arguments and what came back."""
    arguments = json.dumps(step.arguments, ensure_ascii=False, default=str)
    content = f"**Arguments:** `{arguments}`\n\n{'' if step.ok else '**Failed:** '}{step.summary}"
    metadata: dict[str, Any] = {"title": f"🔧 {step.name}", "duration": round(step.duration_s, 2), "status": "done"}
    if not step.ok:
        metadata["log"] = "failed"
    return {"role": "assistant", "content": content, "metadata": metadata}


def assistant_message(text: str, images: Sequence[str], image_ref: ImageRef = existing_image) -> Message:
    """The answer's markdown followed by its images, in one chat bubble."""
    files = [{"path": ref} for ref in (image_ref(str(image)) for image in images) if ref]
    if not files:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": [text, *files] if text else files}


def reply_to_messages(reply: Reply, image_ref: ImageRef = existing_image) -> list[Message]:
    """A Reply as chat messages: one collapsible message per tool step, then the answer with its suggested
    next messages as clickable options."""
    answer = assistant_message(reply.text, reply.images, image_ref)
    if reply.options:
        answer["options"] = [{"value": option, "label": option} for option in reply.options]
    return [step_message(step) for step in reply.steps] + [answer]


def running_step_message(name: str, arguments: dict[str, Any]) -> Message:
    """A tool call still running: its step with a spinner (Gradio shows one for status "pending")."""
    shown = json.dumps(arguments, ensure_ascii=False, default=str)
    return {
        "role": "assistant",
        "content": f"**Arguments:** `{shown}`\n\nRunning…",
        "metadata": {"title": f"🔧 {name}", "status": "pending"},
    }


class LiveTurn:
    """What the chat shows while a turn runs: its tool steps (spinning until done) and the text so far."""

    def __init__(self) -> None:
        self.steps: dict[str, Message] = {}  # by step id, in the order they started
        self.text = ""

    def apply(self, event: TurnEvent) -> None:
        if event.kind == "step_started":
            self.steps[event.step_id] = running_step_message(event.name, event.arguments)
            self.text = ""  # words before a tool call were the model thinking aloud; the answer comes after
        elif event.kind == "step_finished" and event.step is not None:
            self.steps[event.step_id or f"done-{len(self.steps)}"] = step_message(event.step)
        elif event.kind == "text":
            self.text += event.text

    def messages(self) -> list[Message]:
        shown = list(self.steps.values())
        if self.text:
            shown.append({"role": "assistant", "content": self.text})
        return shown


def user_message(text: str, files: Sequence[str] = ()) -> Message:
    """What the user sent, with the dropped files shown as attachments."""
    attachments = [{"path": str(file)} for file in files]
    if not attachments:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [text, *attachments] if text else attachments}


def history_to_messages(history: Sequence[dict[str, Any]], image_ref: ImageRef = existing_image) -> list[Message]:
    """A stored session (Assistant.history) as chat messages, images included; tool steps are not stored."""
    messages: list[Message] = []
    for entry in history:
        if entry["role"] == "assistant":
            messages.append(assistant_message(entry["content"], entry.get("images") or [], image_ref))
        elif entry["role"] == "user":
            messages.append(user_message(entry["content"]))
    return messages


def runs_table(runs: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Rows for the runs table, newest first, from list_runs()' summaries (data as its file name, to fit)."""

    def metric(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, int | float) else ""

    return [
        [
            run["id"],
            run["status"],
            # A local model by its folder name, not its whole path; hub ids (org/name) stay whole.
            Path(run["model"]).name if str(run["model"]).startswith("/") else run["model"],
            Path(run["data"]).name,
            metric(run.get("accuracy")),
            metric(run.get("macro_f1")),
        ]
        for run in reversed(runs)
    ]


def pick_panel_run(runs: Sequence[dict[str, Any]], session_id: str | None) -> int | None:
    """The run the progress panel follows: this chat's active run, else any active run, else this chat's
    newest run (to show how it ended), else the newest run of all, else None."""
    mine = [run for run in runs if session_id and run.get("session_id") == session_id]
    for candidates in (
        [run for run in mine if run["status"] in ACTIVE_STATUSES],
        [run for run in runs if run["status"] in ACTIVE_STATUSES],
        mine,
        list(runs),
    ):
        if candidates:
            return int(candidates[-1]["id"])
    return None


def _fmt_seconds(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    minutes, secs = divmod(max(0, int(round(seconds))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


def progress_html(status: dict[str, Any] | None) -> str:
    """The progress panel for one run_status() dict: status, phase, step/total, loss, ETA and a bar."""
    if not status:
        return "<div class='tc-progress'><em>No run yet. Drop a data file and say <b>train</b>.</em></div>"
    step, total = status.get("step"), status.get("total_steps")
    run_state = str(status.get("status", "?"))
    fraction = 1.0 if run_state == "succeeded" else 0.0
    if isinstance(step, int | float) and isinstance(total, int | float) and total > 0:
        fraction = min(1.0, max(0.0, step / total))
    loss = status.get("loss")
    facts = [
        f"<b>Run {html.escape(str(status.get('run_id', '?')))}</b>: {html.escape(run_state)}",
        f"phase {html.escape(str(status.get('phase') or '–'))}",
        f"step {step if step is not None else '–'}/{total if total is not None else '–'}",
        f"loss {loss:.4f}" if isinstance(loss, int | float) else "loss –",
        f"elapsed {_fmt_seconds(status.get('elapsed_s'))}",
    ]
    if run_state in ACTIVE_STATUSES:
        facts.append(f"ETA {_fmt_seconds(status.get('eta_s'))}")
    colour = {"failed": "#d9534f", "cancelled": "#999999", "succeeded": "#2e9e5b"}.get(run_state, "#3b82f6")
    error = status.get("error")
    return (
        "<div class='tc-progress'>"
        f"<div>{' · '.join(facts)}</div>"
        f"<div style='background:#e5e7eb;border-radius:4px;height:12px;margin-top:6px' title='{fraction:.0%}'>"
        f"<div style='background:{colour};width:{fraction * 100:.1f}%;height:12px;border-radius:4px'></div></div>"
        + (f"<div style='color:#d9534f;margin-top:4px'>{html.escape(str(error))}</div>" if error else "")
        + "</div>"
    )


def session_choices(sessions: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Dropdown entries (label, id) for earlier chats that have a title, i.e. at least one message."""
    choices = []
    for session in sessions:
        title = (session.get("title") or "").strip()
        if title:
            when = time.strftime("%b %d %H:%M", time.localtime(session["updated_at"]))
            choices.append((f"{title} · {when}", session["id"]))
    return choices


def header_markdown(mode: str, backend_description: str) -> str:
    line = f"Assistant: **{backend_description}**."
    if mode == "guided":
        line += " " + LLM_HINT
    intro = "Fine-tune models by chatting: drop a data file, inspect it, train, evaluate, compare, deploy."
    return f"# tunechat\n{intro}\n\n{line}"


# ---- the app ---------------------------------------------------------------------------------------


def image_ref_for(assistant: Assistant, staging: Path) -> ImageRef:
    """Images in the run and comparison folders are served as they are (launch allows those folders);
    any other image is copied to a staging folder in the temp dir first, so no other workspace folder
    (uploads, datasets, the database) ever has to be served."""
    served = [served_folder.resolve() for served_folder in served_folders(assistant)]

    def ref(path: str) -> str | None:
        source = Path(path)
        if not source.is_file():
            return None
        if any(source.resolve().is_relative_to(folder) for folder in served):
            return str(source)
        digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
        target = staging / f"{digest}{source.suffix}"
        staging.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)

    return ref


def served_folders(assistant: Assistant) -> list[Path]:
    return [assistant.workspace.runs, assistant.workspace.root / "comparisons"]


def build_app(assistant: Assistant) -> gr.Blocks:
    """The chat app around one Assistant. Each browser tab has its own chat session."""
    image_ref = image_ref_for(assistant, Path(tempfile.gettempdir()) / "tunechat-ui-images")

    def sessions_update(selected: str | None) -> Any:
        return gr.update(choices=session_choices(assistant.sessions.list_sessions()), value=selected)

    def chat(message: dict[str, Any] | str | None, session_id: str | None, shown: list[Message] | None) -> Iterator:
        """Send one message (and any dropped files); first echo it, then show the steps and the answer."""
        if isinstance(message, str):
            message = {"text": message, "files": []}
        text = ((message or {}).get("text") or "").strip()
        files = [str(f.get("path") if isinstance(f, dict) else f) for f in (message or {}).get("files") or []]
        if not text and not files:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        session_id = session_id or assistant.new_session()
        shown = [*(shown or []), user_message(text, files)]
        # Lock the box until the answer is in: two replies racing on one session would interleave its state.
        yield shown, gr.MultimodalTextbox(value=None, interactive=False), session_id, shown, gr.skip()
        # The turn runs in a thread and reports its steps and text through a queue, so the chat shows each
        # tool call with a spinner while it runs and the answer as it streams in.
        events: queue.Queue[TurnEvent] = queue.Queue()
        outcome: dict[str, Any] = {}

        def run_turn() -> None:
            try:
                outcome["answer"] = reply_to_messages(
                    assistant.reply(session_id, text, files=files, on_event=events.put), image_ref
                )
            except UserError as error:
                outcome["answer"] = [assistant_message(str(error), [])]
            except Exception as error:  # keep the chat alive and say what broke; the details go to the console
                log.exception("reply failed in session %s", session_id)
                outcome["answer"] = [assistant_message(f"Something went wrong: {type(error).__name__}: {error}", [])]

        worker = threading.Thread(target=run_turn, name=f"turn-{session_id}", daemon=True)
        worker.start()
        live = LiveTurn()
        while worker.is_alive() or not events.empty():
            try:
                live.apply(events.get(timeout=STREAM_POLL_SECONDS))
            except queue.Empty:
                continue
            while not events.empty():  # coalesce a burst of tokens into one screen update
                live.apply(events.get_nowait())
            yield [*shown, *live.messages()], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        worker.join()
        shown = [*shown, *outcome["answer"]]
        yield shown, gr.MultimodalTextbox(value=None, interactive=True), session_id, shown, sessions_update(session_id)

    def send_example(prompt: str) -> Callable[..., Iterator]:
        def send(session_id: str | None, shown: list[Message] | None) -> Iterator:
            yield from chat({"text": prompt, "files": []}, session_id, shown)

        return send

    def choose_option(session_id: str | None, shown: list[Message] | None, selected: gr.SelectData) -> Iterator:
        """A click on a suggested next step sends it as the user's message."""
        value = selected.value.get("value") if isinstance(selected.value, dict) else selected.value
        yield from chat({"text": str(value or ""), "files": []}, session_id, shown)

    def open_session(session_id: str | None) -> tuple[Any, Any, Any]:
        """Reopen an earlier chat: its messages (with images) and its session become this tab's."""
        if not session_id:
            return [], None, []
        if session_id not in {known["id"] for known in assistant.sessions.list_sessions()}:
            gr.Warning(f"There is no earlier chat '{session_id}'; pick one from the list.")
            return gr.skip(), gr.skip(), gr.skip()
        shown = history_to_messages(assistant.history(session_id), image_ref)
        return shown, session_id, shown

    def new_chat() -> tuple[Any, None, list[Message], Any]:
        return [], None, [], gr.update(value=None)

    def panel(session_id: str | None) -> tuple[list[list[Any]], str]:
        """The runs table and the followed run's progress, straight from the registry and run folders."""
        ctx = assistant.context(session_id or "")
        runs = assistant.registry.list_runs()
        run_id = pick_panel_run(runs, session_id)
        status = None
        if run_id is not None:
            try:
                status = {"run_id": run_id, **run_status(ctx, run_id)}
            except UserError as error:
                status = {"run_id": run_id, "status": "unknown", "error": str(error)}
        return runs_table(list_runs(ctx)["runs"]), progress_html(status)

    def tick(session_id: str | None, last: tuple | None) -> tuple[Any, Any, Any]:
        """Timer refresh: send only what changed, so the table does not flicker or lose its scroll."""
        rows, progress = panel(session_id)
        if last is not None and [rows, progress] == list(last):
            return gr.skip(), gr.skip(), gr.skip()
        return rows, progress, (rows, progress)

    with gr.Blocks(title="tunechat", fill_height=True) as demo:
        session = gr.State(None)  # this tab's chat session id; created on its first message
        shown_state = gr.State([])  # the messages on screen, tool steps included (not stored in the registry)
        panel_state = gr.State(None)  # the panel's last contents, to skip unchanged refreshes
        gr.Markdown(header_markdown(assistant.mode, assistant.backend_description))
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    height=560,
                    buttons=["copy"],
                    feedback_options=None,
                    placeholder="Drop a CSV, TSV or JSONL file of labelled texts below, then say **inspect my data**.",
                )
                box = gr.MultimodalTextbox(
                    placeholder="Type a message or drop a data file (.csv .tsv .jsonl .json .txt .parquet .zip)",
                    file_types=UPLOAD_TYPES,
                    file_count="multiple",
                    show_label=False,
                    autofocus=True,
                )
                with gr.Row():
                    example_buttons = [gr.Button(prompt, size="sm") for prompt in EXAMPLE_PROMPTS]
            with gr.Column(scale=2):
                with gr.Row():
                    # Custom values are allowed because the choices change per tab and API clients pass ids
                    # directly; open_session refuses ids that are not in the registry.
                    sessions = gr.Dropdown(
                        label="Earlier chats", choices=[], value=None, scale=4, allow_custom_value=True
                    )
                    new_button = gr.Button("New chat", size="sm", scale=1)
                progress = gr.HTML(progress_html(None), label="Active run")
                runs = gr.Dataframe(
                    headers=RUN_HEADERS,
                    value=[],
                    datatype=["number", "str", "str", "str", "str", "str"],
                    interactive=False,
                    label=RUNS_LABEL,
                    wrap=True,
                    column_widths=["9%", "17%", "25%", "25%", "12%", "12%"],
                )
                timer = gr.Timer(POLL_SECONDS)

        chat_outputs = [chatbot, box, session, shown_state, sessions]
        box.submit(
            chat,
            [box, session, shown_state],
            chat_outputs,
            api_name="chat",
            concurrency_limit=4,
            show_progress="minimal",
        )
        for button, prompt in zip(example_buttons, EXAMPLE_PROMPTS, strict=True):
            button.click(
                send_example(prompt),
                [session, shown_state],
                chat_outputs,
                api_visibility="private",
                concurrency_limit=4,
            )
        chatbot.option_select(
            choose_option, [session, shown_state], chat_outputs, api_visibility="private", concurrency_limit=4
        )
        sessions.input(open_session, [sessions], [chatbot, session, shown_state], api_name="open_session")
        new_button.click(new_chat, None, [chatbot, session, shown_state, sessions], api_name="new_chat")
        timer.tick(
            tick,
            [session, panel_state],
            [runs, progress, panel_state],
            api_visibility="private",
            show_progress="hidden",
            concurrency_limit=None,
        )
        demo.load(panel, [session], [runs, progress], api_name="runs", show_progress="hidden")
        demo.load(lambda: sessions_update(None), None, [sessions], api_name="sessions", show_progress="hidden")
    return demo


def launch(
    host: str = "127.0.0.1", port: int = 7860, assistant: Assistant | None = None, prevent_thread_lock: bool = False
) -> gr.Blocks:
    """Serve the chat on http://host:port (blocks unless prevent_thread_lock; then close() the returned app)."""
    assistant = assistant or Assistant()
    demo = build_app(assistant)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=prevent_thread_lock,
            allowed_paths=[str(folder) for folder in served_folders(assistant)],
            footer_links=["api"],
            quiet=prevent_thread_lock,
        )
    except OSError as error:
        if "port" in str(error).lower():
            raise UserError(f"Port {port} is already in use; pick another one with --port.") from error
        raise
    return demo
