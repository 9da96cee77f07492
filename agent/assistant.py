"""The assistant behind every room (web chat, terminal chat): one entry point, two modes.

Guided mode (no LLM configured) understands the common intents in plain words; LLM mode hands
the same tools to a LangChain tool-calling agent. Both read and write the session's history and
state in the chat sessions store (agent/sessions.py), so a restart continues the conversation.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Every tool module, so each kind of plan that can wait for a yes (from an earlier process too) has its executor.
import tools.registry  # noqa: F401
from agent.backends import BackendChoice
from agent.confirmations import answer_pending, dropped_notice, pending_notice
from agent.sessions import SessionStore
from agent.suggestions import suggest_next
from agent.types import EventSink, Presenter, Reply, ignore_events
from tools.context import ToolContext
from tools.pending import drop_pending, pending_action
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.data.turn_cache import parses_once_per_turn
from trainer.store.registry import Registry

if TYPE_CHECKING:
    from agent.memory import ChatMemory


class Assistant:
    def __init__(
        self,
        workspace: Workspace | None = None,
        chat_model: Any | None = None,
        backend: BackendChoice | None = None,
        *,
        presenter: Presenter,
    ):
        """`chat_model` is a LangChain chat model; without one, `backend` (default: flags aside, the environment
        and then the settings file, see agent.backends) says which LLM to use, or guided mode. `presenter` is how
        the room that holds this assistant shows tool results (ui/render.MARKDOWN for every room today)."""
        from agent.backends import chat_model_for, judge_endpoint, resolve_backend

        self.presenter = presenter
        self.workspace = workspace or Workspace.from_env()
        self.registry = Registry(self.workspace.db_path)
        self.sessions = SessionStore(self.workspace.db_path)
        self.backend: BackendChoice | None = None
        self.chat_model = chat_model
        if chat_model is None:
            self.backend = backend or resolve_backend()
            self.chat_model = chat_model_for(self.backend)
        # The LLM that judges answers when the user asks (and says yes to its cost): the chat's own backend.
        self.judge = judge_endpoint(self.backend)
        self._memory: ChatMemory | None = None
        self._memory_lock = threading.Lock()

    @property
    def memory(self) -> ChatMemory:
        """The LLM agent's checkpointed threads, one per chat (opened on first use: guided mode needs none)."""
        with self._memory_lock:  # the web UI's turns run in threads: one connection for all of them
            if self._memory is None:
                from agent.memory import ChatMemory

                self._memory = ChatMemory(self.workspace.db_path)
            return self._memory

    @property
    def mode(self) -> str:
        return "llm" if self.chat_model is not None else "guided"

    @property
    def backend_description(self) -> str:
        """The UI's one line on who answers: the LLM and where it came from, or why guided mode."""
        if self.chat_model is None:
            return self.backend.describe() if self.backend is not None else "guided mode (no LLM configured)"
        from agent.llm import describe_chat_model

        return describe_chat_model(self.chat_model)

    def new_session(self) -> str:
        session_id = uuid.uuid4().hex[:12]
        self.sessions.ensure_session(session_id)
        return session_id

    def context(self, session_id: str) -> ToolContext:
        uploaded = tuple(self.sessions.uploaded_files(session_id)) if session_id else ()
        return ToolContext(self.workspace, self.registry, session_id, uploaded_names=uploaded, judge=self.judge)

    def history(self, session_id: str) -> list[dict[str, Any]]:
        return self.sessions.messages(session_id)

    @parses_once_per_turn  # the turn's tools share one parse of each data file
    def reply(
        self,
        session_id: str,
        message: str,
        files: Sequence[str | Path] = (),
        on_event: EventSink = ignore_events,
    ) -> Reply:
        """Answer one user message (with any files dropped alongside it) and record both in the session.

        `on_event` hears the turn as it happens (tool steps starting and finishing, streamed text), for a UI
        that shows progress; the returned Reply holds the same steps and the final text.
        """
        self.sessions.ensure_session(session_id)
        state = self.sessions.session_state(session_id)
        uploaded: list[str] = []
        notes: list[str] = []
        for file in files:
            try:
                path = self.workspace.import_file(Path(file), session_id=session_id)
            except UserError as error:
                notes.append(str(error))
                continue
            uploaded.append(path.name)
        if uploaded:
            state.setdefault("files", []).extend(uploaded)
            state["active_file"] = uploaded[-1]
        user_text = message.strip()
        if uploaded:
            user_text = (user_text + "\n" if user_text else "") + " ".join(f"[uploaded {name}]" for name in uploaded)
        self.sessions.add_message(session_id, "user", user_text)
        self.sessions.set_session_title(session_id, (message.strip() or " ".join(uploaded))[:60])

        context = self.context(session_id)
        before = pending_action(context)
        # The user's own yes/no to a waiting action is answered here, in code: no model can produce it.
        answered = answer_pending(context, message, self.presenter)
        reply: Reply
        if answered is not None:
            reply = answered
        elif self.chat_model is None:
            from agent.guided import guided_reply

            reply = guided_reply(context, state, message, uploaded, self.presenter, on_event)
        else:
            from agent.llm import llm_reply

            history = self.sessions.messages(session_id)[:-1]
            reply = llm_reply(self.chat_model, context, state, history, user_text, on_event, memory=self.memory)
        after = pending_action(context)
        if answered is None and before is not None and after is not None and before["id"] == after["id"]:
            # The message was about something else: a plan waits only until then, so a "yes" said later to another
            # question cannot carry it out.
            drop_pending(context)
            reply.text += "\n\n" + dropped_notice(before)
            after = None
        if after is not None:
            # Every reply that leaves a plan waiting restates it, in code's words, whatever the model said.
            reply.text += "\n\n" + pending_notice(after)
        if notes:
            reply.text = "\n".join(notes) + "\n\n" + reply.text
        reply.options = reply.options or suggest_next(context, state)  # a question's own buttons come first
        self.sessions.save_session_state(session_id, state)
        self.sessions.add_message(session_id, "assistant", reply.text, reply.images)
        return reply
