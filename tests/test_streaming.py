"""A turn is shown while it runs: each tool step starts (spinner) and finishes, and the answer streams in.

Driven through the real HTTP path (ChatOpenAI against the loopback chat-completions server, which
streams its answers as SSE chunks) and through guided mode; the web chat's live view is checked on the
same events.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from langchain_openai import ChatOpenAI
from openai_server import FakeOpenAI, text, tool

from agent.assistant import Assistant
from agent.types import TurnEvent
from ui import web_view
from ui.render import MARKDOWN


def test_llm_turn_streams_steps_then_text_over_http(reviews_tsv: Path) -> None:
    answer = "The file has 120 rows of reviews labelled pos and neg."
    events: list[TurnEvent] = []
    with FakeOpenAI([tool("inspect_data", file="reviews.tsv"), text(answer)]) as server:
        model = ChatOpenAI(model="test-model", base_url=server.base_url, api_key="sk-test-dummy", max_retries=0)
        assistant = Assistant(chat_model=model, presenter=MARKDOWN)
        session = assistant.new_session()
        reply = assistant.reply(session, "look at my data", files=[reviews_tsv], on_event=events.append)

    # The model was asked to stream (LangGraph's message stream turns it on), and the text came in pieces.
    assert all(request.get("stream") is True for request in server.requests)
    kinds = [event.kind for event in events]
    assert kinds.index("step_started") < kinds.index("step_finished") < kinds.index("text")
    started = next(event for event in events if event.kind == "step_started")
    finished = next(event for event in events if event.kind == "step_finished")
    assert (started.name, started.arguments) == ("inspect_data", {"file": "reviews.tsv"})
    assert finished.step_id == started.step_id and finished.step is not None and finished.step.ok
    assert finished.step.result is not None and finished.step.result["rows"] == 120
    pieces = [event.text for event in events if event.kind == "text"]
    assert len(pieces) >= 2 and "".join(pieces) == answer
    assert reply.text.startswith(answer) and [step.name for step in reply.steps] == ["inspect_data"]


def test_guided_turn_reports_each_tool_step(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    events: list[TurnEvent] = []
    reply = assistant.reply(session, "fine-tune a classifier on this", files=[reviews_tsv], on_event=events.append)
    started = [event.name for event in events if event.kind == "step_started"]
    finished = [event.step.name for event in events if event.kind == "step_finished" and event.step]
    assert started == finished == [step.name for step in reply.steps] == ["inspect_data", "propose_plan"]
    # The next steps are offered as clickable options.
    assert reply.options[0] == "go"


def test_live_view_spins_while_a_step_runs_and_shows_text_as_it_comes() -> None:
    live = web_view.LiveTurn()
    live.apply(TurnEvent("step_started", step_id="c1", name="inspect_data", arguments={"file": "a.csv"}))
    [running] = live.messages()
    assert running["metadata"]["status"] == "pending" and "inspect_data" in running["metadata"]["title"]

    from agent.types import ToolStep

    step = ToolStep("inspect_data", {"file": "a.csv"}, True, "rows=3", 0.25, {"rows": 3})
    live.apply(TurnEvent("step_finished", step_id="c1", name="inspect_data", step=step))
    live.apply(TurnEvent("text", text="Three "))
    live.apply(TurnEvent("text", text="rows."))
    done, answer = live.messages()
    assert done["metadata"]["status"] == "done" and done["metadata"]["duration"] == 0.25
    assert answer == {"role": "assistant", "content": "Three rows."}


def test_reply_options_become_clickable_chat_options() -> None:
    from agent.types import Reply

    [message] = web_view.reply_to_messages(Reply(text="Plan ready.", options=["go", "use 5 epochs"]))
    assert message["options"] == [{"value": "go", "label": "go"}, {"value": "use 5 epochs", "label": "use 5 epochs"}]


def test_llm_plan_offers_go_and_a_waiting_action_offers_yes_and_no(reviews_tsv: Path, tiny_bert: Path) -> None:
    from scripted_model import ScriptedChatModel, say, tool_call

    model = ScriptedChatModel(
        script=[
            tool_call("propose_plan", file="reviews.tsv", model="tiny"),
            say("Here is the plan; say go to start."),
            tool_call("delete_dataset", dataset="reviews.tsv"),
            say("I can delete it once you agree."),
        ]
    )
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    session = assistant.new_session()
    planned = assistant.reply(session, "plan a run on this", files=[reviews_tsv])
    assert [(step.name, step.ok) for step in planned.steps] == [("propose_plan", True)]
    assert planned.options[0] == "go"
    waiting = assistant.reply(session, "delete that file")
    assert waiting.options == ["yes", "no"] and "Waiting for your yes" in waiting.text
