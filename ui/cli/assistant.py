"""The assistant's commands: the browser chat, the terminal chat, and the chat backend's settings."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from agent.backends import FLAGS
from agent.settings import KINDS
from trainer.core.errors import UserError
from ui.cli.common import arg, context, emit
from ui.render import MARKDOWN


def _reattach_followers() -> None:
    """Pick up again what must keep running after a restart (e.g. following hosted jobs)."""
    from trainer.backends.runs import reattach_all

    ctx = context()
    reattach_all(ctx.workspace, ctx.registry)


def _llm_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in FLAGS}


def _assistant(args: argparse.Namespace) -> Any:
    """The assistant with the backend the --llm flags choose (over the environment and the settings file)."""
    from agent.assistant import Assistant
    from agent.backends import resolve_backend

    return Assistant(backend=resolve_backend(_llm_flags(args)), presenter=MARKDOWN)


# The flags that choose the chat backend, shared by `ui`, `chat` and `settings`.
LLM_FLAGS = (
    arg(
        "--llm", choices=KINDS, help="chat backend (default: environment, then ~/.tunechat/settings.json, else guided)"
    ),
    arg("--llm-model", help="model name for openai / openai-compatible (e.g. gpt-4.1-mini, qwen2.5:7b)"),
    arg("--llm-base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 (no key needed)"),
    arg("--llm-path", help="local Transformers chat model folder (safetensors) for --llm local"),
)


# The flags of `tunechat ui` beyond host and port.
UI_FLAGS = (
    arg(
        "--auth",
        metavar="USER:PASSWORD",
        help="require this login in the browser and the API (TUNECHAT_UI_AUTH works too and, unlike a flag, "
        "is not shown in the process list)",
    ),
)


def ui_auth(args: argparse.Namespace) -> tuple[str, str] | None:
    """The login the UI requires: --auth, else TUNECHAT_UI_AUTH, else none."""
    value = getattr(args, "auth", None) or os.environ.get("TUNECHAT_UI_AUTH")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        # The value itself is not repeated: it may be a password typed in the wrong shape.
        raise UserError("Give the UI login as USER:PASSWORD (in --auth or TUNECHAT_UI_AUTH), e.g. ada:long-passphrase.")
    return user.strip(), password


def cmd_chat(args: argparse.Namespace) -> int:
    from ui.terminal import chat

    assistant = _assistant(args)
    _reattach_followers()

    return chat(args.message, session_id=args.session, files=args.file or [], assistant=assistant)


def cmd_ui(args: argparse.Namespace) -> int:
    from ui.web import launch

    auth = ui_auth(args)
    assistant = _assistant(args)
    _reattach_followers()
    launch(host=args.host, port=args.port, assistant=assistant, auth=auth)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Show the chat backend, where each value came from; --set section.key=value edits settings.json."""
    from agent.backends import resolve_backend
    from agent.settings import settings_path, write_setting

    path = settings_path()
    for assignment in args.set or []:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise UserError(f"Write --set as key=value, e.g. --set llm.model=qwen2.5:7b (got {assignment!r}).")
        write_setting(key.strip(), value.strip(), path)
        print(f"{path}: {key.strip()} = {value.strip() or '(removed)'}", file=sys.stderr)
    choice = resolve_backend(_llm_flags(args))
    result = {"settings_file": str(path), **choice.to_dict(), "description": choice.describe()}
    emit(args, result, _render_backend)
    return 0


def _render_backend(result: dict[str, Any]) -> str:
    lines = [result["description"], f"settings file: {result['settings_file']}"]
    sources = result.get("sources") or {}
    for name in ("kind", "model", "base_url", "path", "api_key_env", "max_new_tokens"):
        value = result.get(name)
        if name in sources and value is not None:
            lines.append(f"  {name}: {value}  ({sources[name]})")
    return "\n".join(lines)
