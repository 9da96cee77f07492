"""`tunechat chat`: the assistant in a terminal, one reply per call or an interactive loop."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agent.assistant import Assistant
from agent.types import Reply
from ui.render import MARKDOWN

DEFAULT_SESSION = "terminal"


def print_reply(reply: Reply, numbered: bool = False) -> None:
    """The reply's steps (to stderr), text and media; `numbered`: its options too, for the interactive loop,
    where typing a number picks one (a one-shot `tunechat chat MESSAGE` prints the answer alone)."""
    for step in reply.steps:
        mark = "✓" if step.ok else "✗"
        print(f"  [{mark} {step.name} {step.duration_s:.1f}s]", file=sys.stderr)
    print(reply.text)
    for media in reply.images:
        print(f"({'recording' if media.endswith('.wav') else 'image'}: {media})")
    for number, option in enumerate(reply.options if numbered else [], 1):
        print(f"  [{number}] {option}")


def chosen(line: str, options: Sequence[str]) -> str:
    """A bare number picks that numbered option of the last reply (the terminal's buttons); else the line."""
    if line.isdigit() and 1 <= int(line) <= len(options):
        return options[int(line) - 1]
    return line


def chat(
    message: str | None, session_id: str | None = None, files: Sequence[str] = (), assistant: Assistant | None = None
) -> int:
    assistant = assistant or Assistant(presenter=MARKDOWN)
    session = session_id or DEFAULT_SESSION
    if message is not None or files:
        print_reply(assistant.reply(session, message or "", files=list(files)))
        return 0
    print(f"tunechat ({assistant.backend_description}), session '{session}'. Type 'help', or 'quit' to leave.")
    pending_files = list(files)
    options: list[str] = []
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.lower() in ("quit", "exit", ":q"):
            return 0
        if line.startswith("/file "):
            pending_files.append(line.removeprefix("/file ").strip())
            print("(file attached; it is sent with your next message)")
            continue
        if not line and not pending_files:
            continue
        reply = assistant.reply(session, chosen(line, options), files=pending_files)
        print_reply(reply, numbered=True)
        options, pending_files = reply.options, []
