"""What the LLM agent remembers of a chat: a LangGraph checkpointer, one thread per chat session, so the tool
calls and tool results of earlier turns are still in the conversation after a restart of tunechat; a long thread
is summarised by the chat model itself (LangChain's SummarizationMiddleware) instead of cut.

The checkpoints live in the workspace's one SQLite file (tunechat.db), beside the chats and the registry, so a
chat and everything it knows stay together and a backup is one file. Sharing it is safe: the file is in WAL mode
(readers never block the writer), the saver's connection waits on a lock as long as the stores' connections do
(busy_timeout_s), it commits after each write, and its tables (`checkpoints`, `writes`, made and migrated by
langgraph's SqliteSaver.setup) take no name of ours. The web UI answers several chats at once, each turn in its
own thread, through one Assistant: the connection is opened with check_same_thread=False, and every use of it,
the pruning here included, goes through the saver's own lock (SqliteSaver.cursor).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired

from langchain.agents import AgentState
from langchain.agents.middleware import SummarizationMiddleware
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from trainer.store.db import busy_timeout_s

# A thread is summarised once its messages reach about this many tokens (LangChain's approximate count, tool
# results included): a few big tool results and some talk. Cost per turn stays bounded, and a model whose profile
# says its context is small gets a third of it (see summarization()).
SUMMARY_TRIGGER_TOKENS = 12_000
# What stays word for word after a summary: the latest exchanges, an AI tool call never parted from its results.
SUMMARY_KEEP_TOKENS = 4_000
NOT_RUN = "Not run: the turn ended before this call was carried out."


class ChatState(AgentState[Any]):
    """The agent's state per thread: its messages, and how many of the chat's stored messages (agent/sessions.py)
    the thread has taken in, so turns answered without the model (the user's yes, a refused upload) reach it."""

    session_messages: NotRequired[int]


class ChatMemory:
    """The checkpointer of every chat in one workspace, over one connection to the workspace's SQLite file."""

    def __init__(self, db_path: Path):
        connection = sqlite3.connect(db_path, timeout=busy_timeout_s(), check_same_thread=False)
        # As the stores do (trainer/store/db.py): in WAL mode NORMAL never corrupts the file.
        connection.execute("PRAGMA synchronous=NORMAL")
        self.saver = SqliteSaver(connection)
        self.saver.setup()  # now, once, rather than inside some later turn's first write
        self._close = weakref.finalize(self, connection.close)

    def close(self) -> None:
        self._close()

    @staticmethod
    def config(session_id: str, recursion_limit: int) -> RunnableConfig:
        return RunnableConfig(configurable={"thread_id": session_id}, recursion_limit=recursion_limit)

    def messages(self, session_id: str) -> list[BaseMessage]:
        """The chat's thread as the model will next see it (before this turn's additions)."""
        latest = self.saver.get_tuple(self.config(session_id, 1))
        return list(latest.checkpoint["channel_values"].get("messages") or []) if latest else []

    def checkpoints(self, session_id: str) -> int:
        """How many checkpoints the chat's thread holds (one between turns, see keep_latest)."""
        with self.saver.cursor(transaction=False) as cursor:
            row = cursor.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (session_id,)).fetchone()
        return int(row[0])

    def keep_latest(self, session_id: str) -> None:
        """Drop the thread's older checkpoints: each step of a turn saves the whole message list again, and only
        the newest is ever read. (The agent's messages are an add_messages channel, not a DeltaChannel, so the
        newest checkpoint needs none of its ancestors; SqliteSaver has no prune of its own.)"""
        latest = self.saver.get_tuple(self.config(session_id, 1))
        if latest is None:
            return
        keep = latest.config["configurable"]["checkpoint_id"]
        with self.saver.cursor() as cursor:
            cursor.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_id <> ?", (session_id, keep))
            cursor.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id <> ?", (session_id, keep))


def summarization(chat_model: Any) -> SummarizationMiddleware:
    """LangChain's summarisation of long threads, written by the chat's own model."""
    profile = getattr(chat_model, "profile", None)
    limit = profile.get("max_input_tokens") if isinstance(profile, Mapping) else None
    trigger = SUMMARY_TRIGGER_TOKENS
    if isinstance(limit, int) and limit > 0:
        trigger = max(1, min(trigger, limit // 3))  # the summary call's input (below) must fit too
    return SummarizationMiddleware(
        chat_model,
        trigger=("tokens", trigger),
        keep=("tokens", max(1, min(SUMMARY_KEEP_TOKENS, trigger // 2))),
        # What is summarised is about the trigger less what is kept, plus the turn that crossed it; LangChain's
        # default keeps only its last 4000 tokens, which would drop the previous summary at the thread's start. A
        # chat from before the checkpointer, taken in whole, may be longer: its oldest part is left out.
        trim_tokens_to_summarize=2 * trigger,
    )


def turn_input(thread: Mapping[str, Any], history: Sequence[Mapping[str, Any]], user_text: str) -> dict[str, Any]:
    """The graph's input for one turn: only the new HumanMessage, after whatever the thread has not seen yet.

    `thread` is the checkpointed state (empty for a new chat, or one from before the checkpointer, whose stored
    history is then taken in once); `history` the chat's stored messages before this one. Messages stored since the
    thread's last turn (the user's yes and what tunechat did on it, answered in code) are added as plain messages,
    and the model's last answer becomes the text the user saw (with the waiting plan restated, say). Tool calls a
    broken-off turn left without results get a result saying so, as chat APIs refuse unanswered calls.
    """
    kept: list[BaseMessage] = list(thread.get("messages") or [])
    seen = int(thread.get("session_messages", len(history) if kept else 0))
    missed = list(history[seen:])
    rewritten = answer_dangling_calls(kept)
    last = rewritten[-1] if rewritten else None
    if missed and missed[0].get("role") == "assistant" and isinstance(last, AIMessage) and not last.tool_calls:
        shown = str(missed[0].get("content") or "")
        if last.text.strip() in shown:
            if shown.strip() != last.text.strip():
                rewritten[-1] = AIMessage(shown, id=last.id)
            missed = missed[1:]
    messages: list[BaseMessage] = []
    if rewritten != kept:
        messages = [RemoveMessage(id=REMOVE_ALL_MESSAGES), *rewritten]
    messages += history_messages(missed)
    messages.append(HumanMessage(user_text))
    return {"messages": messages, "session_messages": len(history) + 1}


def answer_dangling_calls(messages: list[BaseMessage]) -> list[BaseMessage]:
    """`messages` with a NOT_RUN result after every tool call that has none."""
    answered = {message.tool_call_id for message in messages if isinstance(message, ToolMessage)}
    out: list[BaseMessage] = []
    for message in messages:
        out.append(message)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.get("id") and call["id"] not in answered:
                    out.append(ToolMessage(NOT_RUN, tool_call_id=call["id"], name=call["name"], status="error"))
    return out


def history_messages(history: Sequence[Mapping[str, Any]]) -> list[BaseMessage]:
    """Stored user/assistant messages as LangChain messages (the store keeps no tool traffic)."""
    messages: list[BaseMessage] = []
    for message in history:
        content = str(message.get("content") or "")
        if message.get("role") == "user":
            messages.append(HumanMessage(content))
        elif message.get("role") == "assistant" and content:
            messages.append(AIMessage(content))
    return messages
