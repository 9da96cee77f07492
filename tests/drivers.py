"""One script, two LLM paths: the in-process scripted chat model, or the real ChatOpenAI over HTTP against the
loopback chat-completions server. Tests parametrize over both drivers to cover the LLM path end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_openai import ChatOpenAI
from openai_server import FakeOpenAI, text, tool
from scripted_model import ScriptedChatModel, last_tool_result, say, tool_call


def parse_tool_content(content: str) -> Any:
    """A tool result as the model saw it: JSON for a result, the raw text for an "Error: ..."."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


class ScriptedDriver:
    """Scripts the in-process fake model."""

    def __init__(self) -> None:
        self.model = ScriptedChatModel()

    def call(self, name: str, **args: Any) -> None:
        self.model.add(tool_call(name, **args))

    def say(self, content: str) -> None:
        self.model.add(say(content))

    def answer(self, make_text: Callable[[Any], str]) -> None:
        """Answer with text made from the latest tool result."""
        self.model.add(lambda messages: say(make_text(parse_tool_content(last_tool_result(messages).content))))

    def requests(self) -> int:
        return len(self.model.received)

    def pending(self) -> int:
        return len(self.model.script)

    def bound_tools(self) -> list[str]:
        return self.model.bound_tools

    def sent(self, index: int) -> list[tuple[str, str]]:
        """(role, text) of every message in the model's `index`-th request."""
        roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
        return [(roles.get(m.type, m.type), str(m.content)) for m in self.model.received[index]]


class ServerDriver:
    """Scripts the loopback OpenAI server behind a real ChatOpenAI."""

    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.model = ChatOpenAI(model="test-model", base_url=server.base_url, api_key="sk-test-dummy", max_retries=0)

    def call(self, name: str, **args: Any) -> None:
        self.server.add(tool(name, **args))

    def say(self, content: str) -> None:
        self.server.add(text(content))

    def answer(self, make_text: Callable[[Any], str]) -> None:
        """Answer with text made from the latest tool result."""

        def respond(body: dict[str, Any]) -> dict[str, Any]:
            last = [m for m in body["messages"] if m["role"] == "tool"][-1]
            return text(make_text(parse_tool_content(last["content"])))

        self.server.add(respond)

    def requests(self) -> int:
        return len(self.server.requests)

    def pending(self) -> int:
        return len(self.server.script)

    def bound_tools(self) -> list[str]:
        return [t["function"]["name"] for t in self.server.requests[0]["tools"]]

    def sent(self, index: int) -> list[tuple[str, str]]:
        """(role, text) of every message in the server's `index`-th request."""
        return [(m["role"], str(m.get("content") or "")) for m in self.server.requests[index]["messages"]]


Driver = ScriptedDriver | ServerDriver
