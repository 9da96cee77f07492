"""What every command shares: one row of the command table, the tool context, and printing a result."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainer.core.records import plain


@dataclass(frozen=True)
class Arg:
    """One argparse argument: the flags or name, then add_argument's keyword arguments."""

    names: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*names: str, **options: Any) -> Arg:
    return Arg(names, options)


@dataclass(frozen=True)
class Command:
    """One `tunechat NAME` command. A command that prints data gets `--json` (one JSON object on stdout)."""

    name: str
    help: str
    func: Callable[[argparse.Namespace], int]
    arguments: tuple[Arg, ...] = ()
    prints_data: bool = False
    json_help: str = "print one JSON object"


def context(session_id: str | None = None) -> Any:
    from tools.context import ToolContext

    return ToolContext.from_env(session_id=session_id, allow_any_model_path=True)


def emit(args: argparse.Namespace, result: Mapping[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    """Print a result: its JSON object with --json (typed results as the JSON they stand for), else its markdown."""
    data = plain(result)
    if getattr(args, "json", False):
        print(json.dumps(data, default=str))
    else:
        print(render(data))
