"""LLM mode: the registered tools handed to a LangChain tool-calling agent.

The chat model comes from flags, the environment or the settings file (agent/backends.py: OpenAI, any
OpenAI-compatible server, or a local Transformers model). Each tool is bound to the chat's ToolContext here, so the
model only sees and sets the documented arguments, never the workspace, registry or session. What the agent
remembers between turns (tool results included) is its checkpointed thread, one per chat (agent/memory.py).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool

from agent.images import result_images
from agent.memory import ChatMemory, ChatState, summarization, turn_input
from agent.prompts import system_prompt
from agent.types import EventSink, Reply, ToolStep, TurnEvent, ignore_events
from tools.context import ToolContext
from tools.registry import TOOLS
from tools.schema import result_text, tool_args_schema, tool_description
from tools.session_files import hide_other_chats
from trainer.core.errors import UserError
from trainer.core.records import plain
from trainer.core.workspace import Workspace

log = logging.getLogger(__name__)

# LangGraph counts every node (the summarisation step before each model call too), so 36 is about a dozen
# tool calls per turn.
RECURSION_LIMIT = 36
# The graph's nodes whose messages are this turn's own (the summarisation node also re-sends older ones).
TURN_NODES = ("model", "tools")


# ---- the chat model -------------------------------------------------------------------------


def describe_chat_model(model: Any) -> str:
    """One line for the UI naming the model, endpoint and where the choice came from; never the API key."""
    from agent.backends import short_origin

    origin = str((getattr(model, "metadata", None) or {}).get("tunechat_origin") or "")
    # The environment was the only source before the settings file and flags existed; it goes unsaid.
    suffix = f" (from {short_origin(origin)})" if origin and not origin.startswith("env ") else ""
    if getattr(model, "_llm_type", "") == "local-transformers":
        return f"LLM: local Transformers model {model.model_path} on {model.resolved_device}{suffix}"
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    base_url = chat_model_base_url(model)
    return f"LLM: {name}" + (f" at {base_url}" if base_url else "") + suffix


def chat_model_base_url(model: Any) -> str | None:
    """The endpoint the model talks to, as the openai client resolved it (None for non-HTTP models)."""
    client = getattr(model, "root_client", None)
    url = getattr(client, "base_url", None) or getattr(model, "openai_api_base", None)
    return str(url).rstrip("/") if url else None


# ---- tools ----------------------------------------------------------------------------------


def langchain_tools(ctx: ToolContext, results: dict[str, Any] | None = None) -> list[BaseTool]:
    """One LangChain tool per registered tool, with `ctx` bound; LangChain built each one's schema and description
    from its signature and docstring (tools/schema.py).

    Each returns (text for the model, artifact); the artifact {"ok", "duration_s", and "result" or "error"} lets
    the agent build the UI's tool steps and find images without parsing the text again. Given `results`, the result
    goes there instead, under the artifact's "result_key": the message is checkpointed, and a result is the UI's
    for this turn only (it may hold whole tables, or numbers msgpack cannot store).
    """
    return [_make_tool(func, ctx, results) for func in TOOLS]


def _make_tool(func: Callable[..., Mapping[str, Any]], ctx: ToolContext, results: dict[str, Any] | None) -> BaseTool:
    def run(**kwargs: Any) -> tuple[str, dict[str, Any]]:
        text, artifact = call_tool(func, ctx, kwargs)
        if results is not None and "result" in artifact:
            key = uuid.uuid4().hex  # the tool node may run several calls at once, in threads
            results[key] = artifact.pop("result")
            artifact["result_key"] = key
        return text, artifact

    return StructuredTool(
        name=func.__name__,
        description=tool_description(func),
        args_schema=tool_args_schema(func),
        func=run,
        response_format="content_and_artifact",
    )


def call_tool(
    func: Callable[..., Mapping[str, Any]], ctx: ToolContext, kwargs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Run one tool; every failure becomes "Error: ..." text for the model instead of ending the turn."""
    started = time.monotonic()
    try:
        result = plain(func(ctx, **kwargs))
    except UserError as error:
        text = hide_other_chats(ctx, str(error))
        return f"Error: {text}", {"ok": False, "error": str(error), "duration_s": time.monotonic() - started}
    except Exception as error:  # the model should hear about a bug, and the chat must go on
        log.exception("tool %s failed", func.__name__)
        message = f"{type(error).__name__}: {error}"
        return f"Error: {message}", {"ok": False, "error": message, "duration_s": time.monotonic() - started}
    text = hide_other_chats(ctx, result_text(result))
    return text, {"ok": True, "result": result, "duration_s": time.monotonic() - started}


# ---- one turn -------------------------------------------------------------------------------


def llm_reply(
    chat_model: BaseChatModel,
    ctx: ToolContext,
    state: dict[str, Any],
    history: list[dict[str, Any]],
    user_text: str,
    on_event: EventSink = ignore_events,
    *,
    memory: ChatMemory,
) -> Reply:
    """Answer one user message with the tool-calling agent: the final text, the tool steps, the images.

    The agent continues the chat's checkpointed thread in `memory` (earlier turns' tool calls and results
    included); only the new message goes in, after any stored messages the thread has not seen (`history`: the
    chat's messages before this one). While the turn runs, `on_event` hears each tool call start and finish and
    each piece of text the model writes, so the chat can show a spinner per step and the answer as it streams in.
    """
    from langchain.agents import create_agent
    from langgraph.errors import GraphRecursionError

    results: dict[str, Any] = {}
    tools = langchain_tools(ctx, results)
    runs = ctx.registry.list_runs(ctx.session_id) if ctx.session_id else []
    prompt = system_prompt(
        [tool.name for tool in tools],
        list(dict.fromkeys(state.get("files") or [])),  # the same file dropped twice is listed once
        active_file=state.get("active_file"),
        runs=[{"id": run["id"], "status": run["status"]} for run in runs],
    )
    agent = create_agent(
        chat_model,
        tools,
        system_prompt=prompt,
        middleware=[summarization(chat_model)],
        state_schema=ChatState,
        checkpointer=memory.saver,
    )
    thread_id = ctx.session_id or "default"
    config = memory.config(thread_id, RECURSION_LIMIT)
    agent_input: Any = turn_input(agent.get_state(config).values, history, user_text)

    events = TurnEvents(on_event, results)
    try:
        # "updates" tells which tool calls start and end (and is where this turn's messages are collected, so
        # whatever happened before an error or the step limit is still reported); "messages" carries the model's
        # text token by token (when the model streams).
        for mode, chunk in agent.stream(agent_input, config, stream_mode=["updates", "messages"]):
            if mode == "updates":
                events.on_update(chunk)
            elif mode == "messages":
                events.on_token(chunk)
    except GraphRecursionError:
        steps, images = collect_steps(events.turn, ctx.workspace, results)
        text = (
            "I stopped after too many tool calls in one turn; here is where things stand. "
            "Ask me to continue or rephrase the request."
        )
        return Reply(text=text, images=images, steps=steps)
    except Exception as error:
        steps, images = collect_steps(events.turn, ctx.workspace, results)
        return Reply(text=llm_error_message(chat_model, error), images=images, steps=steps)
    finally:
        _keep_latest(memory, thread_id)

    steps, images = collect_steps(events.turn, ctx.workspace, results)
    text = ""
    if events.turn and isinstance(events.turn[-1], AIMessage):
        text = events.turn[-1].text.strip()
    if not text:
        text = "Done." if steps else "I have no answer to that; could you rephrase?"
    return Reply(text=text, images=images, steps=steps)


def _keep_latest(memory: ChatMemory, thread_id: str) -> None:
    try:
        memory.keep_latest(thread_id)
    except Exception:  # only space is lost; the answer must still reach the user
        log.exception("could not drop the older checkpoints of chat %s", thread_id)


class TurnEvents:
    """Turns the agent's stream into TurnEvents: a step starts when the model asks for a tool, finishes when
    the tool's message comes back; text pieces come from the model node only (not from tool output)."""

    def __init__(self, on_event: EventSink, results: dict[str, Any] | None = None):
        self.on_event = on_event
        self.results = results
        self.calls: dict[str, dict[str, Any]] = {}
        self.turn: list[BaseMessage] = []  # this turn's model and tool messages, in order

    def on_update(self, update: Any) -> None:
        for node, node_update in (update or {}).items():
            if node not in TURN_NODES:
                continue
            for item in node_update if isinstance(node_update, list) else [node_update]:
                for message in (item or {}).get("messages", []) if isinstance(item, dict) else []:
                    self._on_message(message)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, AIMessage | ToolMessage):
            self.turn.append(message)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                call_id = call.get("id") or f"call-{len(self.calls)}"
                self.calls[call_id] = dict(call)
                self.on_event(
                    TurnEvent(
                        "step_started", step_id=call_id, name=call["name"], arguments=dict(call.get("args") or {})
                    )
                )
        elif isinstance(message, ToolMessage):
            known = self.calls.get(message.tool_call_id)
            paired: list[BaseMessage] = [AIMessage("", tool_calls=[known])] if known else []
            steps, _ = collect_steps([*paired, message], results=self.results)
            for step in steps:
                self.on_event(TurnEvent("step_finished", step_id=message.tool_call_id, name=step.name, step=step))

    def on_token(self, chunk: Any) -> None:
        message, metadata = chunk
        if isinstance(message, AIMessageChunk | AIMessage) and (metadata or {}).get("langgraph_node") == "model":
            text = message.text
            if text:
                self.on_event(TurnEvent("text", text=text))


def collect_steps(
    messages: list[BaseMessage], workspace: Workspace | None = None, results: Mapping[str, Any] | None = None
) -> tuple[list[ToolStep], list[str]]:
    """The turn's tool calls (paired with their results by call id) and the plots they drew (agent/images.py:
    only the known keys of evaluation and comparison results, PNG files in the workspace's run folders).
    `results` holds the results the tools kept out of their messages (see langchain_tools)."""
    calls: dict[str, Any] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for request in message.tool_calls:
                calls[request.get("id") or ""] = request
    steps: list[ToolStep] = []
    images: list[str] = []
    for message in messages:
        if not isinstance(message, ToolMessage):
            continue
        call: dict[str, Any] = dict(calls.get(message.tool_call_id) or {})
        name = str(call.get("name") or message.name or "tool")
        artifact = message.artifact if isinstance(message.artifact, dict) else {}
        result = artifact.get("result")
        if result is None and results is not None:
            result = results.get(str(artifact.get("result_key")))
        result = result if isinstance(result, dict) else None
        ok = bool(artifact.get("ok")) and message.status != "error"
        if ok and result is not None:
            summary = summarize_result(result)
            found = result_images(name, result, workspace) if workspace is not None else []
            images += [image for image in found if image not in images]
        else:
            # A validation error from the tool node has no artifact; its text is the explanation.
            summary = str(artifact.get("error") or message.text)[:300]
        steps.append(
            ToolStep(
                name=name,
                arguments=dict(call.get("args") or {}),
                ok=ok,
                summary=summary,
                duration_s=round(float(artifact.get("duration_s") or 0.0), 3),
                result=result,
            )
        )
    return steps, images


def summarize_result(result: dict[str, Any], limit: int = 200) -> str:
    """A one-line summary of a tool result: its top-level scalar fields."""
    parts = []
    for key, value in result.items():
        if key.endswith("_png") or key == "plot":
            continue
        if isinstance(value, bool | int | str) or value is None:
            parts.append(f"{key}={value}")
        elif isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, list | dict):
            parts.append(f"{key}: {len(value)} item{'s' if len(value) != 1 else ''}")
    summary = ", ".join(parts)
    return summary if len(summary) <= limit else summary[: limit - 3] + "..."


def llm_error_message(chat_model: Any, error: Exception) -> str:
    """One sentence for the chat when the LLM endpoint failed, naming the endpoint (never the key)."""
    import openai

    where = chat_model_base_url(chat_model) or "the configured endpoint"
    hint = "check the backend with `tunechat settings` (OPENAI_BASE_URL, OPENAI_API_KEY), or use `--llm guided`."
    if isinstance(error, openai.AuthenticationError):
        return f"The LLM at {where} refused the API key (401); {hint}"
    if isinstance(error, openai.APITimeoutError):
        return f"The LLM at {where} did not answer in time; try again, or {hint}"
    if isinstance(error, openai.APIConnectionError):
        return f"The LLM at {where} could not be reached ({_short(error)}); {hint}"
    if isinstance(error, openai.NotFoundError):
        return f"The LLM at {where} does not know that model or path ({_short(error)}); set TUNECHAT_MODEL or {hint}"
    if isinstance(error, openai.APIStatusError):
        return f"The LLM at {where} returned HTTP {error.status_code} ({_short(error)}); {hint}"
    log.exception("LLM turn failed")
    return f"The LLM turn failed ({type(error).__name__}: {_short(error)}); try again, or {hint}"


def _short(error: Exception, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    # Some client errors echo request headers; make sure a key never reaches the chat.
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        text = text.replace(key, "***")
    return text if len(text) <= limit else text[: limit - 3] + "..."
