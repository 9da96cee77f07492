"""The tools an MCP client sees and how one call runs, without any transport (server.py adds those).

Every tool of tools/registry.py is offered as the chat's LLM sees it (tools/schema.py: the docstring's words, the
signature's types, unknown arguments refused), plus `add_file`, `confirm` and `cancel`. The ToolContext is the
server's own, bound here: a client never sees or sets the workspace, the registry or the session.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types
from pydantic import BaseModel, ValidationError

from agent.confirmations import render_action_result
from agent.images import result_images
from tools.context import ToolContext
from tools.pending import pending_action
from tools.registry import TOOLS
from tools.schema import result_text, tool_args_schema, tool_description
from tools.session_files import hide_other_chats
from trainer.core.errors import UserError
from trainer.core.records import plain
from trainer.data.turn_cache import one_parse_per_turn
from ui.mcp_server import plans
from ui.mcp_server.files import AllowedFolders
from ui.render import MARKDOWN

log = logging.getLogger(__name__)

YES = re.compile(r"\byes\b", re.IGNORECASE)


@dataclass(frozen=True)
class Session:
    """What the server binds to every call: the tools' context and the folders files may be added from."""

    tools: ToolContext
    allowed: AllowedFolders


def add_file(ctx: Session, path: str) -> dict[str, Any]:
    """Copy a data file from the user's machine into tunechat's workspace, so the other tools can use it (by the
    name this returns). Only files inside the folders the user allowed when starting the server can be added.

    Args:
        path: The file's full path on the user's machine, e.g. /home/ada/data/reviews.csv.
    """
    source = ctx.allowed.check(path)
    workspace = ctx.tools.workspace
    copied = workspace.import_file(source, session_id=ctx.tools.session_id)
    return {
        "file": copied.name,
        "bytes": copied.stat().st_size,
        "source": str(source),
        "next_step": f"Use file '{copied.name}' with inspect_data, propose_plan or prepare_data.",
    }


def confirm(ctx: Session, action_id: str) -> dict[str, Any]:
    return plans.confirm(ctx.tools, action_id)


def cancel(ctx: Session, action_id: str) -> dict[str, Any]:
    return plans.cancel(ctx.tools, action_id)


# The documented signatures are plans.confirm / plans.cancel's; these bind the session's ToolContext.
confirm.__doc__, cancel.__doc__ = plans.confirm.__doc__, plans.cancel.__doc__

# Tools that only read (a client may run them without asking), and those that act at once without a plan.
READ_ONLY = frozenset(
    {
        "list_files",
        "inspect_data",
        "run_status",
        "evaluate_run",
        "compare_runs",
        "list_runs",
        "find_runs",
        "search_status",
        "diagnose_run",
    }
)
ACTS_AT_ONCE = frozenset({"stop_run", "stop_search", "confirm"})

# How the chat shows each tool's result (ui/render); a tool without one is answered in JSON only.
MARKDOWN_OF: dict[str, Callable[[dict[str, Any]], str]] = {
    "inspect_data": MARKDOWN.inspection,
    "prepare_data": MARKDOWN.prepared,
    "propose_plan": MARKDOWN.plan,
    "dry_run": MARKDOWN.dry_run,
    "run_status": MARKDOWN.status,
    "evaluate_run": MARKDOWN.evaluation,
    "compare_runs": MARKDOWN.comparison,
    "explain_comparison": MARKDOWN.explanation,
    "list_runs": lambda result: MARKDOWN.runs(result["runs"]),
    "diagnose_run": MARKDOWN.diagnosis,
    "plan_search": MARKDOWN.search_plan,
    "search_status": MARKDOWN.search,
    "stop_search": MARKDOWN.search,
    "retrain_with_remedy": MARKDOWN.remedy_plan,
    # What a confirmed plan did, in the words the chat uses after the user's yes.
    "confirm": lambda done: render_action_result(str(done["action"]), done, MARKDOWN),
}


@dataclass(frozen=True)
class Entry:
    """One tool: its documented function (ctx first), the schema of its arguments and how it is called."""

    func: Callable[..., Mapping[str, Any]]
    arguments: type[BaseModel]
    session_bound: bool  # called with the Session (add_file, confirm, cancel) rather than its ToolContext

    @property
    def name(self) -> str:
        return self.func.__name__

    def describe(self) -> types.Tool:
        description = tool_description(self.func)
        if not self.session_bound and YES.search(description):
            description += "\n" + plans.YES_MEANS_CONFIRM
        read_only = self.name in READ_ONLY
        hints = types.ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=None if read_only else self.name in ACTS_AT_ONCE,
            open_world_hint=False,
        )
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)  # the tool's own description, said once above
        return types.Tool(name=self.name, description=description, input_schema=schema, annotations=hints)


def _entry(func: Callable[..., Mapping[str, Any]], session_bound: bool = False) -> Entry:
    return Entry(func, tool_args_schema(func), session_bound)


class ToolBox:
    """The server's tools over one Session. Calls run one at a time, as a chat's turns do, so a plan's id read
    before and after a call belongs to that call."""

    def __init__(self, session: Session):
        self.session = session
        entries = [_entry(func) for func in TOOLS] + [_entry(f, True) for f in (add_file, confirm, cancel)]
        self.entries = {entry.name: entry for entry in entries}
        self._lock = threading.Lock()

    def list(self) -> list[types.Tool]:
        return [entry.describe() for entry in self.entries.values()]

    def call(self, name: str, arguments: Mapping[str, Any] | None) -> types.CallToolResult:
        """Run one tool and answer as MCP does: JSON text (and the chat's markdown), or one sentence on error."""
        entry = self.entries.get(name)
        if entry is None:
            return _error(f"There is no tool '{name}'; list the tools to see their names.")
        try:
            kwargs = entry.arguments.model_validate(dict(arguments or {})).model_dump(exclude_unset=True)
        except ValidationError as error:
            return _error(_invalid(name, error))
        with self._lock, one_parse_per_turn():
            return self._run(entry, kwargs)

    def _run(self, entry: Entry, kwargs: dict[str, Any]) -> types.CallToolResult:
        ctx = self.session.tools
        before = pending_action(ctx)
        try:
            result = plain(entry.func(self.session if entry.session_bound else ctx, **kwargs))
        except UserError as error:
            return _error(hide_other_chats(ctx, str(error)))
        except Exception as error:  # a bug: the client hears of it and the server goes on
            log.exception("tool %s failed", entry.name)
            return _error(f"{entry.name} failed unexpectedly ({type(error).__name__}: {error}).")
        waiting = plans.new_plan(before, pending_action(ctx))
        if waiting is not None:
            result = plans.with_plan(dict(result), waiting)
        return self._answer(entry.name, result, waiting)

    def _answer(self, name: str, result: dict[str, Any], waiting: dict[str, Any] | None) -> types.CallToolResult:
        ctx = self.session.tools
        # Round-tripped through JSON so the structured result is exactly what the text says.
        structured = json.loads(hide_other_chats(ctx, json.dumps(result, default=str, ensure_ascii=False)))
        content: list[types.TextContent | types.ImageContent] = [
            types.TextContent(type="text", text=hide_other_chats(ctx, result_text(result)))
        ]
        markdown = self._markdown(name, result)
        if waiting is not None:
            markdown = (markdown + "\n\n" if markdown else "") + plans.waiting_notice(waiting)
        if markdown:
            content.append(types.TextContent(type="text", text=hide_other_chats(ctx, markdown)))
        for image in result_images(name, result, ctx.workspace):
            if image.endswith(".png"):
                data = base64.b64encode(Path(image).read_bytes()).decode("ascii")
                content.append(types.ImageContent(type="image", data=data, mime_type="image/png"))
        return types.CallToolResult(content=list(content), structured_content=structured)

    def _markdown(self, name: str, result: dict[str, Any]) -> str:
        render = MARKDOWN_OF.get(name)
        if render is None:
            return ""
        try:
            return render(result)
        except Exception:  # the JSON already says it all; a presenter's gap must not fail the tool
            log.exception("no markdown for %s", name)
            return ""


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _invalid(name: str, error: ValidationError) -> str:
    """The first thing wrong with a call's arguments, in one sentence."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "the arguments"
    if first["type"] == "extra_forbidden":
        return f"{name} takes no argument '{field}'; list the tools to see the arguments it takes."
    if first["type"] == "missing":
        return f"{name} needs the argument '{field}'; call it again with a value for it."
    return f"{name}'s argument '{field}' is not valid ({first['msg']}); call it again with a valid value."
