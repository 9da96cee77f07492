"""How a tool is described to a model and how its result is told back: the same for the chat's LLM agent
(agent/llm.py) and for the clients of `tunechat mcp` (ui/mcp_server/).

A tool's description and its arguments' descriptions come from its Google-style docstring; the arguments' types
from its signature. `ctx` is never part of the schema: whoever calls the tool binds it.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

# A tool result longer than this (JSON characters) is shortened before the model sees it.
MAX_RESULT_CHARS = 12_000
MAX_LIST_ITEMS = 25
MAX_STRING_CHARS = 2_000
SECTION_HEADERS = ("Args:", "Arguments:", "Returns:", "Raises:", "Examples:", "Example:", "Note:")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and {argument: description}."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped in SECTION_HEADERS:
            section, current = stripped, None
            continue
        if section is None:
            summary.append(stripped)
        elif section in ("Args:", "Arguments:") and stripped:
            match = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", stripped)
            if match and line.startswith(" ") and len(line) - len(line.lstrip()) <= 4:
                current = match.group(1)
                args[current] = match.group(2)
            elif current is not None:
                args[current] = f"{args[current]} {stripped}".strip()
    paragraphs = " ".join(line if line else "\n" for line in summary).split("\n")
    description = "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return description, args


def tool_args_schema(func: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of the tool's arguments (all but ctx) with their docstring descriptions."""
    hints = typing.get_type_hints(func)
    _, descriptions = parse_docstring(func.__doc__)
    fields: dict[str, Any] = {}
    for name, parameter in inspect.signature(func).parameters.items():
        if name == "ctx":
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (hints[name], Field(default, description=descriptions.get(name)))
    # extra="forbid": an argument the tool does not document (say "ctx") is refused, not silently dropped.
    config = ConfigDict(extra="forbid")
    return create_model(f"{func.__name__}_args", __config__=config, **fields)


def result_text(result: Any) -> str:
    """The JSON the model reads, shortened (long lists and strings cut, with a note) when it is huge."""
    text = json.dumps(result, default=str, ensure_ascii=False)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    text = json.dumps(_shrink(result), default=str, ensure_ascii=False)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f" ... [truncated, {len(text) - MAX_RESULT_CHARS} more characters]"


def _shrink(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shrink(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_shrink(item) for item in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            items.append(f"... {len(value) - MAX_LIST_ITEMS} more items")
        return items
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return value[:MAX_STRING_CHARS] + f"... [{len(value) - MAX_STRING_CHARS} more characters]"
    return value
