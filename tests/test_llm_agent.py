"""LLM mode end to end: the real agent loop, real tools, a real training subprocess, real SQLite.

The model is either a scripted LangChain chat model or the real ChatOpenAI talking HTTP to a loopback
OpenAI-compatible server that plays the same script, so what crosses the wire is checked too.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from drivers import ScriptedDriver, ServerDriver
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_openai import ChatOpenAI
from openai_server import FakeOpenAI, error, text, tool
from scripted_model import ScriptedChatModel, last_tool_result, say, tool_call

from agent.assistant import Assistant
from agent.backends import chat_model_for, resolve_backend
from agent.llm import RECURSION_LIMIT, call_tool, describe_chat_model
from agent.memory import SUMMARY_TRIGGER_TOKENS
from tools.context import ToolContext
from tools.registry import TOOLS
from trainer.core.errors import UserError
from trainer.store.registry import FINISHED
from ui.render import MARKDOWN

TOOL_NAMES = [t.__name__ for t in TOOLS]


def assistant_with_tiny_model(tiny_bert: Path, chat_model: Any) -> Assistant:
    assistant = Assistant(chat_model=chat_model, presenter=MARKDOWN)
    # The chat may only name model folders inside the workspace.
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    return assistant


def plan_and_start(assistant: Assistant, driver: ScriptedDriver | ServerDriver, data: Path) -> tuple[str, int]:
    """The conversation up to a started run: upload + inspect, plan, go. Returns (session, run id)."""
    session = assistant.new_session()

    driver.call("inspect_data", file="reviews.tsv")
    driver.answer(
        lambda r: f"{r['usable_rows']} rows; text column {r['text_column']}, label column {r['label_column']}."
    )
    reply = assistant.reply(session, "here is my data", files=[data])
    # The reply text was made from the tool result the model was shown, so the result reached it.
    assert reply.text == "120 rows; text column text, label column label."
    assert [(s.name, s.ok) for s in reply.steps] == [("inspect_data", True)]
    assert reply.steps[0].arguments == {"file": "reviews.tsv"} and reply.steps[0].duration_s >= 0

    # The model can only store the plan; its reply is followed by the plan in tunechat's own words.
    driver.call("start_training", file="reviews.tsv", model="tiny", epochs=6, learning_rate=1e-2)
    driver.answer(
        lambda r: f"Plan: {r['config']['epochs']:g} epochs of {Path(r['config']['model']).name}. Say go to start."
    )
    reply = assistant.reply(session, "train a sentiment classifier")
    assert reply.text.startswith("Plan: 6 epochs of tiny. Say go to start.\n\n**Waiting for your yes:** Train")
    assert assistant.registry.list_runs() == []  # a plan starts nothing

    # The user's "go" is handled in code, without asking the model: exactly the stored plan starts.
    reply = assistant.reply(session, "go")
    assert [(s.name, s.ok) for s in reply.steps] == [("confirm_train", True)]
    run_id = reply.steps[0].result["run_id"]
    assert f"run {run_id}**" in reply.text
    run = assistant.registry.get_run(run_id)
    assert run["session_id"] == session and run["config"]["epochs"] == 6

    return session, run_id


def train_and_evaluate(assistant: Assistant, driver: ScriptedDriver, data: Path) -> dict[str, Any]:
    """The whole conversation: upload + inspect, plan, go, status until done, evaluate."""
    session, run_id = plan_and_start(assistant, driver, data)
    deadline = time.monotonic() + 120
    while True:
        driver.call("run_status", run_id=run_id)
        driver.answer(lambda r: f"Run {r['id']} is {r['status']} (step {r['step']} of {r['total_steps']}).")
        reply = assistant.reply(session, "how is it going?")
        status = reply.steps[0].result["status"]
        assert reply.text.startswith(f"Run {run_id} is {status}")
        if status in FINISHED:
            break
        assert time.monotonic() < deadline, "training did not finish in time"
        time.sleep(1)
    assert status == "succeeded", assistant.registry.get_run(run_id)["error"]

    driver.call("evaluate_run", run_id=run_id)
    driver.answer(lambda r: f"Accuracy {r['accuracy']:.2f} against a baseline of {r['baseline']['accuracy']:.2f}.")
    reply = assistant.reply(session, "how good is it?")
    assert driver.pending() == 0  # every scripted model turn was used, none more

    evaluation = reply.steps[0].result
    run = assistant.registry.get_run(run_id)
    assert run["status"] == "succeeded" and run["metrics"]["accuracy"] == evaluation["accuracy"]
    # The toy task is learnable: lr 1e-2 reached 1.0 on 3 of 3 random inits of the tiny model (3e-3: 0.75-0.83).
    assert evaluation["accuracy"] >= 0.9 > evaluation["baseline"]["accuracy"] == 0.5
    assert reply.text == f"Accuracy {evaluation['accuracy']:.2f} against a baseline of 0.50."
    # The confusion matrix reaches the chat as an image inside the workspace, and is stored with the message.
    matrix = Path(evaluation["confusion_matrix_png"])
    assert str(matrix) in reply.images and matrix.read_bytes().startswith(b"\x89PNG")
    assert all(Path(image).resolve().is_relative_to(assistant.workspace.root) for image in reply.images)
    assert assistant.history(session)[-1]["images"] == reply.images
    # The worker really trained: logged steps with a falling loss.
    lines = [json.loads(line) for line in (Path(run["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    losses = [line["loss"] for line in lines if "loss" in line]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    return {"session": session, "run_id": run_id}


@pytest.mark.slow
def test_scripted_model_trains_and_evaluates_through_the_tools(reviews_tsv: Path, tiny_bert: Path) -> None:
    driver = ScriptedDriver()
    assistant = assistant_with_tiny_model(tiny_bert, driver.model)
    assert assistant.mode == "llm"
    outcome = train_and_evaluate(assistant, driver, reviews_tsv)

    assert driver.model.bound_tools == TOOL_NAMES
    first_turn = driver.model.received[0]
    assert isinstance(first_turn[0], SystemMessage) and "reviews.tsv" in first_turn[0].content
    assert isinstance(first_turn[-1], HumanMessage) and "[uploaded reviews.tsv]" in first_turn[-1].content
    # Later turns carry the earlier conversation, and the system prompt names this chat's run.
    status_turn = next(m for m in driver.model.received if m[-1].content == "how is it going?")
    # The thread keeps the earlier turns' tool calls and results too (the inspection's result among them).
    assert any(isinstance(m, ToolMessage) and '"text_column": "text"' in m.content for m in status_turn)
    contents = [
        m.content for m in status_turn[1:] if not isinstance(m, ToolMessage) and not getattr(m, "tool_calls", None)
    ]
    assert contents[:3] == [
        "here is my data\n[uploaded reviews.tsv]",
        "120 rows; text column text, label column label.",
        "train a sentiment classifier",
    ]
    # The model hears its plan, the user's go and what tunechat's code did on it.
    assert contents[3].startswith("Plan: 6 epochs of tiny. Say go to start.") and contents[4] == "go"
    assert contents[5].startswith(f"Started **run {outcome['run_id']}**") and contents[6] == "how is it going?"
    last_turn = driver.model.received[-1]
    assert f"run {outcome['run_id']} (succeeded)" in last_turn[0].content
    # Long threads are summarised rather than cut: what is sent back stays under the summary's trigger.
    assert count_tokens_approximately(last_turn[1:]) < SUMMARY_TRIGGER_TOKENS
    assert last_turn[-3].content == "how good is it?" and isinstance(last_turn[-1], ToolMessage)


def test_real_chat_openai_client_against_a_loopback_server(reviews_tsv: Path, tiny_bert: Path) -> None:
    with FakeOpenAI() as server:
        driver = ServerDriver(server)
        assistant = assistant_with_tiny_model(tiny_bert, driver.model)
        assert assistant.backend_description == f"LLM: test-model at {server.base_url}"
        session, run_id = plan_and_start(assistant, driver, reviews_tsv)

        driver.call("stop_run", run_id=run_id)
        driver.answer(lambda r: f"Run {r['id']} is {r['status']}.")
        assert assistant.reply(session, "stop it").text == f"Run {run_id} is cancelled."
        assert assistant.registry.get_run(run_id)["status"] == "cancelled"

        # A UserError from a tool travels over HTTP as the tool message text; the turn still completes.
        driver.call("evaluate_run", run_id=run_id)
        driver.answer(lambda r: f"The tool said: {r}")
        reply = assistant.reply(session, "evaluate it")
        assert reply.text.startswith(f"The tool said: Error: Run {run_id} was cancelled before it finished")
        assert reply.steps[0].ok is False and driver.pending() == 0

    first = server.requests[0]
    assert first["model"] == "test-model" and first["messages"][0]["role"] == "system"
    functions = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert list(functions) == TOOL_NAMES
    assert "ctx" not in json.dumps(first["tools"])
    inspect_params = functions["inspect_data"]["parameters"]
    assert inspect_params["required"] == ["file"]
    assert set(inspect_params["properties"]) == {"file", "text_column", "label_column", "task"}
    assert functions["compare_runs"]["parameters"]["properties"]["run_ids"]["items"] == {"type": "integer"}

    # The second request carries the tool call and its result as a role "tool" message tied to the call id.
    second = server.requests[1]["messages"]
    call = next(m for m in second if m["role"] == "assistant" and m.get("tool_calls"))["tool_calls"][0]
    result = next(m for m in second if m["role"] == "tool")
    assert call["function"]["name"] == "inspect_data" and result["tool_call_id"] == call["id"]
    assert json.loads(result["content"])["text_column"] == "text"
    assert all(h["authorization"] == "Bearer sk-test-dummy" for h in server.headers)


def test_streaming_chat_openai_gets_tool_calls_and_text(reviews_tsv: Path) -> None:
    script = [tool("inspect_data", file="reviews.tsv"), text("The data looks fine.")]
    with FakeOpenAI(script) as server:
        model = ChatOpenAI(model="test-model", base_url=server.base_url, api_key="sk-x", max_retries=0, streaming=True)
        assistant = Assistant(chat_model=model, presenter=MARKDOWN)
        reply = assistant.reply(assistant.new_session(), "check this", files=[reviews_tsv])
    assert all(request["stream"] is True for request in server.requests)
    assert reply.text == "The data looks fine."
    assert reply.steps[0].name == "inspect_data" and reply.steps[0].result["usable_rows"] == 120


def test_tool_errors_go_back_to_the_model_and_never_read_outside(tmp_path: Path, reviews_tsv: Path) -> None:
    secret = tmp_path / "secret.tsv"
    secret.write_text("label\ttext\n" + "pos\tTOP-SECRET-LINE\n" * 5 + "neg\tTOP-SECRET-OTHER\n" * 5)
    shown: list[str] = []

    def then(message: AIMessage) -> Callable[[list], AIMessage]:
        """Note the tool result the model was just shown, then make the next move."""

        def step(messages: list) -> AIMessage:
            shown.append(last_tool_result(messages).content)
            return message

        return step

    model = ScriptedChatModel().add(
        tool_call("inspect_data", file="nope.tsv"),
        # Relative and absolute escapes from the workspace to a real, readable file.
        then(tool_call("inspect_data", file="../../secret.tsv")),
        then(tool_call("inspect_data", file=str(secret))),
        # The model tries to set the bound context: refused by the schema, the turn goes on.
        then(tool_call("inspect_data", file="reviews.tsv", ctx="/")),
        then(say("Sorry, I could not read that file.")),
    )
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "inspect these", files=[reviews_tsv])

    assert reply.text == "Sorry, I could not read that file."
    assert [(step.name, step.ok) for step in reply.steps] == [("inspect_data", False)] * 4
    assert shown[0] == "Error: There is no file 'nope.tsv' in the workspace; upload it first."
    assert shown[1].startswith("Error: '../../secret.tsv' is outside the tunechat workspace")
    assert shown[2].startswith(f"Error: '{secret}' is outside the tunechat workspace")
    assert "ctx" in shown[3] and "Extra inputs are not permitted" in shown[3]
    assert not any("TOP-SECRET" in content for content in shown)
    assert all(step.result is None for step in reply.steps)
    assert reply.steps[1].summary.startswith("'../../secret.tsv' is outside")
    assert assistant.history(session)[-1]["content"] == reply.text


def test_an_unexpected_tool_exception_becomes_text_for_the_model() -> None:
    def broken(ctx: ToolContext, run_id: int) -> dict[str, Any]:
        raise KeyError("metrics")

    ctx = ToolContext.from_env("s1")
    content, artifact = call_tool(broken, ctx, {"run_id": 1})
    assert content == "Error: KeyError: 'metrics'" and artifact["ok"] is False

    def refuses(ctx: ToolContext) -> dict[str, Any]:
        raise UserError("There is no run 7; say 'list runs' to see the run ids.")

    assert call_tool(refuses, ctx, {})[0] == "Error: There is no run 7; say 'list runs' to see the run ids."


def test_huge_results_are_shortened_for_the_model() -> None:
    def huge(ctx: ToolContext) -> dict[str, Any]:
        return {"rows": list(range(10_000)), "path": Path("/x"), "note": "n" * 50_000}

    content, artifact = call_tool(huge, ToolContext.from_env(), {})
    assert len(content) < 12_500 and "more items" in content and "more characters" in content
    assert json.loads(content)["path"] == "/x"  # Paths serialise as strings
    assert len(artifact["result"]["rows"]) == 10_000  # the UI keeps the full result


def test_a_model_that_never_stops_calling_tools_is_cut_off() -> None:
    model = ScriptedChatModel().add(*[tool_call("list_runs") for _ in range(RECURSION_LIMIT)])
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    reply = assistant.reply(assistant.new_session(), "loop")
    assert reply.text.startswith("I stopped after too many tool calls")
    assert 5 <= len(reply.steps) <= RECURSION_LIMIT // 2 + 1
    assert all(step.name == "list_runs" and step.ok for step in reply.steps)


def test_mode_comes_from_the_environment_and_the_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Assistant(presenter=MARKDOWN).mode == "guided"
    assert chat_model_for(resolve_backend()) is None

    key = "sk-test-very-secret-key-123"
    with FakeOpenAI(
        [text("Hello from the loopback model."), error(401, f"Incorrect API key provided: {key}")]
    ) as server:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("TUNECHAT_MODEL", "loopback-model")
        assistant = Assistant(presenter=MARKDOWN)
        assert assistant.mode == "llm"
        assert assistant.backend_description == f"LLM: loopback-model at {server.base_url}"
        assert key not in describe_chat_model(assistant.chat_model) and key not in repr(assistant.chat_model)

        session = assistant.new_session()
        assert assistant.reply(session, "hi").text == "Hello from the loopback model."
        assert server.headers[0]["authorization"] == f"Bearer {key}"
        assert server.requests[0]["model"] == "loopback-model" and server.requests[0]["temperature"] == 0

        refused = assistant.reply(session, "hi again").text
        assert refused.startswith(f"The LLM at {server.base_url} refused the API key (401)")
        assert "tunechat settings" in refused and key not in refused
        closed_url = server.base_url
    # The server is gone now: one sentence naming the endpoint, no traceback, no key.
    model = ChatOpenAI(model="m", base_url=closed_url, api_key=key, max_retries=0)
    unreachable = Assistant(chat_model=model, presenter=MARKDOWN).reply("s2", "hello").text
    assert unreachable.startswith(f"The LLM at {closed_url} could not be reached") and key not in unreachable
