"""The LLM agent's memory: a checkpointed thread per chat in the workspace's SQLite file, kept across restarts
(a new Assistant on the same workspace), summarised when long, and safe for the web UI's concurrent turns.

Each restart test throws the first Assistant away (its connection closed) and answers the next turn with a new
Assistant and a new model, which can only know the earlier tool result from the checkpoint.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_openai import ChatOpenAI
from openai_server import FakeOpenAI, text, tool
from scripted_model import ScriptedChatModel, last_tool_result, say, tool_call

import agent.llm
import agent.memory
from agent.assistant import Assistant
from agent.llm import RECURSION_LIMIT
from agent.memory import NOT_RUN, turn_input
from agent.sessions import SessionStore
from tools.context import ToolContext
from ui.render import MARKDOWN


def restart(assistant: Assistant, chat_model: Any) -> Assistant:
    """tunechat stopped and started again: the old assistant's connection is gone, a new one opens the file."""
    assistant.memory.close()
    return Assistant(workspace=assistant.workspace, chat_model=chat_model, presenter=MARKDOWN)


def kinds(messages: list[BaseMessage]) -> list[str]:
    return [type(message).__name__ for message in messages]


def paired(messages: list[BaseMessage]) -> bool:
    """Every tool call has its result, as chat APIs require."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return all(call["id"] in answered for m in messages if isinstance(m, AIMessage) for call in m.tool_calls)


def test_a_tool_result_survives_a_restart(reviews_tsv: Path) -> None:
    first_model = ScriptedChatModel().add(tool_call("inspect_data", file="reviews.tsv"), say("I had a look."))
    first = Assistant(chat_model=first_model, presenter=MARKDOWN)
    session = first.new_session()
    assert first.reply(session, "look at this", files=[reviews_tsv]).text == "I had a look."
    seen_then = last_tool_result(first_model.received[-1])

    def from_memory(messages: list[BaseMessage]) -> AIMessage:
        found = json.loads(last_tool_result(messages).content)
        return say(f"It had {found['usable_rows']} rows; the labels are in '{found['label_column']}'.")

    second_model = ScriptedChatModel().add(from_memory)
    second = restart(first, second_model)
    reply = second.reply(session, "how many rows were there?")

    assert reply.text == "It had 120 rows; the labels are in 'label'." and reply.steps == []
    sent = second_model.received[0]
    assert kinds(sent) == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "HumanMessage"]
    # The very message the first model was shown, tied to the same call, and nothing but the new question added.
    remembered = last_tool_result(sent)
    assert remembered.content == seen_then.content and remembered.tool_call_id == seen_then.tool_call_id
    assert sent[2].tool_calls[0]["id"] == seen_then.tool_call_id
    assert [m.content for m in sent[-2:]] == ["I had a look.", "how many rows were there?"]
    # The thread's earlier checkpoints were dropped: one per chat between turns, in the workspace's own file.
    assert second.memory.checkpoints(session) == 1
    assert second.memory.saver.conn.execute("PRAGMA database_list").fetchone()[2] == str(second.workspace.db_path)


@pytest.mark.slow
def test_a_tool_result_survives_a_restart_over_http(reviews_tsv: Path) -> None:
    before = FakeOpenAI([tool("inspect_data", file="reviews.tsv"), text("I had a look.")])
    with before:
        model = ChatOpenAI(model="test-model", base_url=before.base_url, api_key="sk-test", max_retries=0)
        first = Assistant(chat_model=model, presenter=MARKDOWN)
        session = first.new_session()
        assert first.reply(session, "look at this", files=[reviews_tsv]).text == "I had a look."
    call = next(m for m in before.requests[1]["messages"] if m.get("tool_calls"))["tool_calls"][0]
    result = next(m for m in before.requests[1]["messages"] if m["role"] == "tool")

    def from_the_wire(body: dict[str, Any]) -> dict[str, Any]:
        found = json.loads(next(m for m in body["messages"] if m["role"] == "tool")["content"])
        return text(f"It had {found['usable_rows']} rows.")

    # A new process: another server, another client, another Assistant on the same workspace.
    with FakeOpenAI([from_the_wire]) as after:
        model = ChatOpenAI(model="test-model", base_url=after.base_url, api_key="sk-test", max_retries=0)
        reply = restart(first, model).reply(session, "how many rows were there?")
    assert reply.text == "It had 120 rows."
    sent = after.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[2]["tool_calls"] == [call] and sent[3] == result
    assert sent[3]["tool_call_id"] == call["id"] and json.loads(sent[3]["content"])["usable_rows"] == 120


def test_a_long_chat_is_summarised_by_the_same_model_and_later_turns_see_it(
    reviews_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = "reviews.tsv: 120 usable rows, text column 'text', label column 'label'."
    model = ScriptedChatModel(summary=summary).add(tool_call("inspect_data", file="reviews.tsv"), say("Looked."))
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    session = assistant.new_session()
    assistant.reply(session, "look at this", files=[reviews_tsv])
    assert model.summary_requests == []

    # Budgets this chat reaches: the first turn (the inspection's result) fits, with a long message it does not,
    # and the summary with that message fits again.
    first_turn = count_tokens_approximately(model.received[-1][1:] + [AIMessage("Looked.")])
    assert first_turn > 300
    monkeypatch.setattr(agent.memory, "SUMMARY_TRIGGER_TOKENS", first_turn + 300)
    monkeypatch.setattr(agent.memory, "SUMMARY_KEEP_TOKENS", 150)
    notes = "Some notes on what I want. " * 75  # about 500 tokens
    model.add(say("Noted."))
    assert assistant.reply(session, notes).text == "Noted."
    # One summary call, to the chat's own model, over the earlier turn with its tool result.
    [request] = model.summary_requests
    assert "look at this" in request and '"usable_rows": 120' in request and "Looked." in request
    sent = model.received[-1]
    assert kinds(sent) == ["SystemMessage", "HumanMessage", "HumanMessage"]
    assert sent[1].content == f"Here is a summary of the conversation to date:\n\n{summary}"
    assert sent[2].content == notes.strip() and not any(isinstance(m, ToolMessage) for m in sent)

    # The next turn, after a restart too, starts from the summary; nothing more is summarised.
    later = ScriptedChatModel().add(say("From the summary: 120 rows."))
    assistant = restart(assistant, later)
    reply = assistant.reply(session, "how many rows?")
    assert reply.text == "From the summary: 120 rows." and later.summary_requests == []
    assert [m.content for m in later.received[0][1:]] == [sent[1].content, notes.strip(), "Noted.", "how many rows?"]
    # The chat's own record (what the UI shows) keeps every message.
    assert [m["content"] for m in assistant.history(session)][2:] == [
        notes.strip(),
        "Noted.",
        "how many rows?",
        "From the summary: 120 rows.",
    ]


def test_a_chat_from_before_the_checkpointer_is_taken_in_once() -> None:
    assistant = Assistant(chat_model=ScriptedChatModel(), presenter=MARKDOWN)
    session = assistant.new_session()
    store = SessionStore(assistant.workspace.db_path)
    for role, content in [("user", "hello"), ("assistant", "Hi, drop a file."), ("user", "later")]:
        store.add_message(session, role, content)
    store.add_message(session, "assistant", "")  # an empty answer says nothing to the model
    model = ScriptedChatModel().add(say("one"), say("two"))
    assistant = restart(assistant, model)
    assistant.reply(session, "first turn with memory")
    assistant.reply(session, "second")
    assert [m.content for m in model.received[1][1:]] == [
        "hello",
        "Hi, drop a file.",
        "later",
        "first turn with memory",
        "one",
        "second",
    ]


def test_what_the_model_did_not_take_part_in_reaches_the_thread() -> None:
    """Turns answered in code (the user's yes) are stored but never pass the model; the model's own answer was
    shown with more around it (the waiting plan restated, a refused upload). The next turn hears all of it."""
    model_answer = AIMessage("Plan ready.", id="ai-1")
    thread = {
        "messages": [HumanMessage("train it", id="h-1"), model_answer],
        "session_messages": 1,
    }
    history = [
        {"role": "user", "content": "train it"},
        {"role": "assistant", "content": "Plan ready.\n\n**Waiting for your yes:** Train tiny."},
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "Started **run 1**."},
    ]
    given = turn_input(thread, history, "how is it going?")
    assert given["session_messages"] == 5
    removal, *messages = given["messages"]
    assert removal.type == "remove"
    assert [(type(m).__name__, m.content) for m in messages] == [
        ("HumanMessage", "train it"),
        ("AIMessage", "Plan ready.\n\n**Waiting for your yes:** Train tiny."),
        ("HumanMessage", "go"),
        ("AIMessage", "Started **run 1**."),
        ("HumanMessage", "how is it going?"),
    ]
    assert messages[1].id == "ai-1"  # the model's answer, replaced where it stood
    # Nothing missed and nothing to fix: only the new message goes in.
    thread = {"messages": [HumanMessage("a", id="h"), AIMessage("b", id="a")], "session_messages": 1}
    plain = turn_input(thread, [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "c")
    assert [m.content for m in plain["messages"]] == ["c"]


def test_a_turn_cut_off_mid_call_leaves_a_thread_the_next_turn_can_use() -> None:
    model = ScriptedChatModel().add(*[tool_call("list_runs") for _ in range(RECURSION_LIMIT)])
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    session = assistant.new_session()
    assert assistant.reply(session, "loop").text.startswith("I stopped after too many tool calls")
    model.script.clear()
    model.add(say("Back."))
    assert assistant.reply(session, "and now?").text == "Back."
    sent = model.received[-1]
    assert paired(sent) and sent[-1].content == "and now?"
    assert sent[-2].content.startswith("I stopped after too many tool calls")


def test_a_restart_in_the_middle_of_a_tool_call_leaves_a_usable_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def train_forever(ctx: ToolContext) -> dict[str, Any]:
        """Train for a very long time."""
        raise KeyboardInterrupt  # tunechat is stopped while the tool runs

    monkeypatch.setattr(agent.llm, "TOOLS", [train_forever])
    model = ScriptedChatModel().add(tool_call("train_forever"))
    first = Assistant(chat_model=model, presenter=MARKDOWN)
    session = first.new_session()
    with pytest.raises(KeyboardInterrupt):
        first.reply(session, "train")

    later = ScriptedChatModel().add(say("It was cut off; shall I try again?"))
    assert restart(first, later).reply(session, "well?").text == "It was cut off; shall I try again?"
    sent = later.received[0]
    # The call the interrupted turn left unanswered has a result saying so, as chat APIs require.
    assert kinds(sent) == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage", "HumanMessage"]
    assert paired(sent) and sent[3].content == NOT_RUN and sent[3].tool_call_id == sent[2].tool_calls[0]["id"]


def test_results_stay_out_of_the_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI gets a tool's whole result; the checkpoint keeps only what the model read (msgpack refuses numpy
    numbers, and a result may hold whole tables)."""

    def measure(ctx: ToolContext) -> dict[str, Any]:
        """Measure something.

        Returns a number numpy made.
        """
        return {"score": np.float32(0.5), "rows": list(range(1000))}

    monkeypatch.setattr(agent.llm, "TOOLS", [measure])
    model = ScriptedChatModel().add(tool_call("measure"), say("Measured."))
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "measure")
    assert reply.text == "Measured." and reply.steps[0].result["score"] == np.float32(0.5)
    [stored] = [m for m in assistant.memory.messages(session) if isinstance(m, ToolMessage)]
    assert json.loads(stored.content)["score"] == "0.5" and set(stored.artifact) == {"ok", "duration_s", "result_key"}


def test_concurrent_turns_of_several_chats_share_one_memory() -> None:
    """The web UI answers chats in threads through one Assistant: each thread stays its own."""

    def echo(messages: list[BaseMessage]) -> AIMessage:
        return say(f"echo: {messages[-1].content}")

    model = ScriptedChatModel().add(*[echo] * 12)
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    sessions = [assistant.new_session() for _ in range(4)]
    errors: list[BaseException] = []

    def chat(session: str) -> None:
        try:
            for turn in range(3):
                assert assistant.reply(session, f"{session} {turn}").text == f"echo: {session} {turn}"
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=chat, args=(session,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and model.script == []
    for session in sessions:
        contents = [m.content for m in assistant.memory.messages(session)]
        assert contents == [text for turn in range(3) for text in (f"{session} {turn}", f"echo: {session} {turn}")]
        assert assistant.memory.checkpoints(session) == 1
    assert isinstance(model.received[0][0], SystemMessage)
