"""A chat model that plays a script: a stand-in for the LLM that still drives the real agent loop.

Each call to the model takes the next item of `script`: an AIMessage (text or tool calls) or a function
of the messages the model received (so a step can react to a tool result). Everything the model was
shown is kept in `received`, so tests can check what came back from the tools.

A request to summarise the thread (LangChain's SummarizationMiddleware, when a long chat reaches its trigger)
is answered with `summary` instead and kept in `summary_requests`: how many turns reach the trigger depends on
the machine's speed (a test polling a training run), so no script can foresee it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

ScriptItem = AIMessage | Callable[[list[BaseMessage]], AIMessage]

_call_ids = itertools.count(1)
# The line LangChain's default summary prompt puts before the conversation it asks to summarise.
SUMMARY_MARKER = "Messages to summarize:"


def tool_call(name: str, **args: Any) -> AIMessage:
    """A model turn that calls one tool."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{next(_call_ids)}"}])


def say(text: str) -> AIMessage:
    """A model turn that answers in text (ends the agent loop)."""
    return AIMessage(content=text)


def last_tool_result(messages: Sequence[BaseMessage]) -> ToolMessage:
    """The newest tool result the model was shown."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            return message
    raise AssertionError("the model was shown no tool result")


class ScriptedChatModel(BaseChatModel):
    script: list[Any] = Field(default_factory=list)
    received: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)
    summary: str = "The chat so far, in short."
    summary_requests: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def model_name(self) -> str:
        return "scripted"

    def add(self, *items: ScriptItem) -> ScriptedChatModel:
        self.script.extend(items)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if len(messages) == 1 and isinstance(messages[0], HumanMessage) and SUMMARY_MARKER in messages[0].text:
            self.summary_requests.append(messages[0].text)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.summary))])
        self.received.append(list(messages))
        if not self.script:
            raise AssertionError("the scripted model was called more often than scripted")
        item = self.script.pop(0)
        message = item(list(messages)) if callable(item) else item
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:
        self.bound_tools = [getattr(tool, "name", str(tool)) for tool in tools]
        return self
