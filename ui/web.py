"""The web chat (Gradio): a chatbot with file drop, each tool step shown as a collapsible message,
a runs table and a live progress panel refreshed by a timer, and earlier chats to reopen.

Training runs in its own process, so the panel only reads the registry and the run folders and
the chat stays responsive while a model trains. Everything shown is rebuilt from the registry and
the chat sessions, so after a restart the earlier runs and chats are still there. What is shown is
built by ui/web_view.py; this module wires it into the Gradio app.

What the app lets out: the plots it shows are copied into a private folder, the only folder it serves;
uploads over TUNECHAT_MAX_UPLOAD_MB are refused by the server while they stream in; its temporary files
are deleted on a schedule and when it stops; a login can be required (`auth`). Each browser keeps the ids of
its own chats (in its local storage): the list of earlier chats shows those, and a chat is reopened only by
its id, which no other caller is given.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import gradio as gr

from agent.assistant import Assistant
from agent.types import TurnEvent
from tools.run_tools import list_runs, run_status
from trainer.core.errors import UserError
from ui.render import MARKDOWN
from ui.rooms import Room
from ui.rooms.compare import add_compare_room
from ui.rooms.data import add_data_room
from ui.rooms.playground import add_playground_room
from ui.rooms.runs import add_runs_room
from ui.rooms.settings import add_settings_room
from ui.web_access import (
    DELETE_CACHE,
    ImageStage,
    exposure_warning,
    held_chats,
    remember_chat,
    upload_limit_bytes,
)
from ui.web_view import (
    RUN_HEADERS,
    ImageRef,
    LiveTurn,
    Message,
    assistant_message,
    header_markdown,
    history_to_messages,
    pick_panel_run,
    progress_html,
    reply_to_messages,
    runs_table,
    session_choices,
    user_message,
)

log = logging.getLogger(__name__)

EXAMPLE_PROMPTS = ("inspect my data", "train", "status", "list runs", "help")
# What trainer.data.read.load_table reads (zip archives of these too, read in memory and never extracted).
UPLOAD_TYPES = [".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt", ".parquet", ".zip"]
CHAT_PLACEHOLDER = "Drop a CSV, TSV or JSONL file of labelled texts below, then say **inspect my data**."
BOX_PLACEHOLDER = "Type a message or drop a data file (.csv .tsv .jsonl .json .txt .parquet .zip)"
RUNS_LABEL = "Runs (acc. and macro-F1 on the test split)"
POLL_SECONDS = 2.0
# How often a running turn's queue is checked for new steps and text.
STREAM_POLL_SECONDS = 0.1
# Chat turns answered at once (each runs in its own thread); more wait in Gradio's queue. On 2 cores with 20
# sessions (benchmarks/chat_load.py) 8, 16 and 32 were within the run-to-run spread of 4.
CHAT_TURNS_AT_ONCE = 4


# What a turn's thread puts last on its event queue: the answer is ready.
TURN_OVER = None


def turn_events(events: queue.Queue[TurnEvent | None], worker: threading.Thread) -> Iterator[list[TurnEvent]]:
    """The turn's events in bursts (a burst of streamed tokens is one screen update), until TURN_OVER."""
    while True:
        try:
            first = events.get(timeout=STREAM_POLL_SECONDS)
        except queue.Empty:
            if worker.is_alive():
                continue
            return  # the thread is gone without its last word: nothing more will come
        burst: list[TurnEvent] = []
        event: TurnEvent | None = first
        while event is not TURN_OVER:
            burst.append(event)
            if events.empty():
                break
            event = events.get_nowait()
        if burst:
            yield burst
        if event is TURN_OVER:
            return


def build_app(assistant: Assistant, image_ref: ImageRef | None = None) -> gr.Blocks:
    """The chat app around one Assistant. Each browser tab has its own chat session."""
    image_ref = image_ref or ImageStage(assistant.workspace)
    root = str(assistant.workspace.root.resolve()).encode()

    def sessions_update(selected: str | None, known: Any = None) -> Any:
        """The earlier chats this browser holds (and the one on screen), never anyone else's."""
        held = {*held_chats(known), *([selected] if selected else [])}
        mine = [session for session in assistant.sessions.list_sessions() if session["id"] in held]
        return gr.update(choices=session_choices(mine), value=selected)

    def chat(
        message: dict[str, Any] | str | None,
        session_id: str | None,
        shown: list[Message] | None,
        known: list[str] | None = None,
    ) -> Iterator:
        """Send one message (and any dropped files); first echo it, then show the steps and the answer."""
        if isinstance(message, str):
            message = {"text": message, "files": []}
        text = ((message or {}).get("text") or "").strip()
        files = [str(f.get("path") if isinstance(f, dict) else f) for f in (message or {}).get("files") or []]
        if not text and not files:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        first_message = not session_id
        session_id = session_id or assistant.new_session()
        shown = [*(shown or []), user_message(text, files)]
        # Lock the box until the answer is in: two replies racing on one session would interleave its state.
        yield shown, gr.MultimodalTextbox(value=None, interactive=False), session_id, shown, gr.skip()
        # The turn runs in a thread and reports its steps and text through a queue, so the chat shows each
        # tool call with a spinner while it runs and the answer as it streams in.
        # The turn puts TURN_OVER last, so the answer is sent the moment it is ready rather than at the next poll
        # (a queue slot held for nothing is a wait for every other chat under load).
        events: queue.Queue[TurnEvent | None] = queue.Queue()
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
            finally:
                events.put(TURN_OVER)

        worker = threading.Thread(target=run_turn, name=f"turn-{session_id}", daemon=True)
        worker.start()
        live = LiveTurn()
        for burst in turn_events(events, worker):
            for event in burst:
                live.apply(event)
            yield [*shown, *live.messages()], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        worker.join()
        shown = [*shown, *outcome["answer"]]
        # The list of chats changes only when this message started one (a title is its first message); later
        # turns only restate which chat is on screen, which costs the server no list to rebuild.
        chats = sessions_update(session_id, known) if first_message else gr.update(value=session_id)
        yield shown, gr.MultimodalTextbox(value=None, interactive=True), session_id, shown, chats

    def send_example(prompt: str) -> Callable[..., Iterator]:
        def send(session_id: str | None, shown: list[Message] | None, known: list[str] | None = None) -> Iterator:
            yield from chat({"text": prompt, "files": []}, session_id, shown, known)

        return send

    def choose_option(
        session_id: str | None, shown: list[Message] | None, known: list[str] | None, selected: gr.SelectData
    ) -> Iterator:
        """A click on a suggested next step sends it as the user's message."""
        value = selected.value.get("value") if isinstance(selected.value, dict) else selected.value
        yield from chat({"text": str(value or ""), "files": []}, session_id, shown, known)

    def listed_chats(known: list[str] | None = None) -> Any:
        """The list of earlier chats, for the ids the caller holds."""
        return sessions_update(None, known)

    def open_session(session_id: str | None) -> tuple[Any, Any, Any]:
        """Reopen an earlier chat: its messages (with images) and its session become this tab's. The id is the key:
        chat ids are random, and each is given only to the browser that started the chat."""
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

    with gr.Blocks(title="tunechat", fill_height=True, delete_cache=DELETE_CACHE) as demo:
        session = gr.State(None)  # this tab's chat session id; created on its first message
        # The ids of this browser's chats, kept in its local storage. The browser itself decrypts it, so the
        # secret only has to stay the same across restarts (for the list to survive one), not be secret.
        known = gr.BrowserState(
            [],
            storage_key="tunechat-chats-" + hashlib.sha256(root).hexdigest()[:12],
            secret=hashlib.sha256(b"tunechat-chats:" + root).hexdigest()[:32],
        )
        shown_state = gr.State([])  # the messages on screen, tool steps included (not stored in the registry)
        panel_state = gr.State(None)  # the panel's last contents, to skip unchanged refreshes
        gr.Markdown(header_markdown(assistant.mode, assistant.backend_description))
        room = partial(Room, assistant, session, image_ref)
        with gr.Tabs(elem_id="tc-rooms"):
            with gr.Tab("Chat", id="chat"):  # the centre: the chat and its side panel
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Chat",
                            height=560,
                            buttons=["copy"],
                            feedback_options=None,
                            placeholder=CHAT_PLACEHOLDER,
                        )
                        box = gr.MultimodalTextbox(
                            placeholder=BOX_PLACEHOLDER,
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

            with gr.Tab("Runs", id="runs") as tab:
                add_runs_room(room(tab))
            with gr.Tab("Compare", id="compare") as tab:
                add_compare_room(room(tab))
            with gr.Tab("Data", id="data") as tab:
                add_data_room(room(tab))
            with gr.Tab("Playground", id="playground") as tab:
                add_playground_room(room(tab))
            with gr.Tab("Settings", id="settings") as tab:
                add_settings_room(room(tab))

        chat_outputs = [chatbot, box, session, shown_state, sessions]
        # After each turn (and each reopened chat) the browser adds the chat to the ids it keeps.
        remember: dict[str, Any] = {"fn": remember_chat, "inputs": [session, known], "outputs": [known]}
        remember |= {"api_visibility": "private", "show_progress": "hidden"}
        box.submit(
            chat,
            [box, session, shown_state, known],
            chat_outputs,
            api_name="chat",
            concurrency_limit=CHAT_TURNS_AT_ONCE,
            show_progress="minimal",
        ).then(**remember)
        for button, prompt in zip(example_buttons, EXAMPLE_PROMPTS, strict=True):
            button.click(
                send_example(prompt),
                [session, shown_state, known],
                chat_outputs,
                api_visibility="private",
                concurrency_limit=CHAT_TURNS_AT_ONCE,
            ).then(**remember)
        chatbot.option_select(
            choose_option,
            [session, shown_state, known],
            chat_outputs,
            api_visibility="private",
            concurrency_limit=CHAT_TURNS_AT_ONCE,
        ).then(**remember)
        opened = sessions.input(open_session, [sessions], [chatbot, session, shown_state], api_name="open_session")
        opened.then(**remember)
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
        demo.load(listed_chats, [known], [sessions], api_name="sessions", show_progress="hidden")
    return demo


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    assistant: Assistant | None = None,
    prevent_thread_lock: bool = False,
    auth: tuple[str, str] | None = None,
) -> gr.Blocks:
    """Serve the chat on http://host:port (blocks unless prevent_thread_lock; then close() the returned app);
    with `auth` (user, password) every page and API call needs that login."""
    assistant = assistant or Assistant(presenter=MARKDOWN)
    stage = ImageStage(assistant.workspace)
    demo = build_app(assistant, stage)
    warning = exposure_warning(host, auth)
    if warning:
        print(warning, file=sys.stderr)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=prevent_thread_lock,
            allowed_paths=[str(stage.folder)],
            max_file_size=upload_limit_bytes(),
            auth=auth,
            footer_links=["api"],
            quiet=prevent_thread_lock,
        )
    except OSError as error:
        if "port" in str(error).lower():
            raise UserError(f"Port {port} is already in use; pick another one with --port.") from error
        raise
    return demo
