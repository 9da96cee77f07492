"""How a tool is described to a model and how its result is told back: the same for the chat's LLM agent
(agent/llm.py) and for the clients of `tunechat mcp` (ui/mcp_server/).

LangChain reads the tool: its description and its arguments' descriptions come from the Google-style docstring
(`parse_docstring=True`, and a docstring LangChain cannot parse is an error, not a silent blank), the arguments'
types from the signature. `ctx` is never part of the schema: whoever calls the tool binds it.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, create_model

# A tool result longer than this (JSON characters) is shortened before the model sees it.
MAX_RESULT_CHARS = 12_000
MAX_LIST_ITEMS = 25
MAX_STRING_CHARS = 2_000


def tool_description(func: Callable[..., Any]) -> str:
    """What the model reads about the tool: its docstring before `Args:`, as LangChain parses it."""
    return str(tool_args_schema(func).__doc__ or "").strip()


@functools.cache
def tool_args_schema(func: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of the tool's arguments (all but ctx) with their docstring descriptions, built by
    LangChain from the signature and the docstring; the model's docstring is the tool's description."""
    from langchain_core.tools import create_schema_from_function

    parsed = create_schema_from_function(
        f"{func.__name__}_args", model_signature(func), parse_docstring=True, error_on_invalid_docstring=True
    )
    if not issubclass(parsed, BaseModel):  # pydantic v1 models come only from v1 annotations, which no tool uses
        raise TypeError(f"{func.__name__}'s arguments must be described with pydantic 2 types")
    # LangChain's schema drops arguments it does not know; ours refuses them (say "ctx"), so the model hears that
    # it cannot set the bound context instead of having it silently ignored.
    return create_model(
        parsed.__name__,
        __base__=parsed,
        __doc__=parsed.__doc__,
        __module__=func.__module__,
        __cls_kwargs__={"extra": "forbid"},
    )


def model_signature(func: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for `func` as the model sees it: the same name, docstring and arguments without `ctx` (which
    the caller binds), so LangChain's parser checks the docstring against the arguments the model can set."""
    hints = typing.get_type_hints(func)
    signature = inspect.signature(func)
    parameters = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "ctx"]

    def stand_in(**kwargs: Any) -> Any:
        raise NotImplementedError("only its signature is read")

    stand_in.__name__ = stand_in.__qualname__ = func.__name__
    stand_in.__doc__ = func.__doc__
    stand_in.__module__ = func.__module__
    stand_in.__annotations__ = {p.name: p.annotation for p in parameters}
    stand_in.__signature__ = signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)  # type: ignore[attr-defined]
    return stand_in


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
