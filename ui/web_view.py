"""What the web chat shows, as plain data and HTML (no Gradio, so it is unit-tested without a server):
chat messages from replies and stored history, tool steps as collapsible messages, the live turn, the
runs table, the progress panel, the earlier-chats list and the header.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.types import Reply, ToolStep, TurnEvent
from trainer.store.registry import ACTIVE as ACTIVE_STATUSES
from ui.render.safe import code, prose, strip_remote_media

# The runs table's columns, in the order runs_table fills them.
RUN_HEADERS = ["run", "status", "model", "data", "acc.", "result"]
LLM_HINT = (
    "To chat with an LLM instead, set `OPENAI_API_KEY`, or start `tunechat ui` with `--llm-base-url URL "
    "--llm-model NAME` (vLLM, Ollama, llama.cpp, LM Studio, `tunechat serve`) or `--llm local --llm-path FOLDER`; "
    "`tunechat settings` shows and saves the choice."
)

# Maps an image path from a reply to something the Chatbot may serve, or None to leave it out.
ImageRef = Callable[[str], str | None]
Message = dict[str, Any]


def existing_image(path: str) -> str | None:
    """Default ImageRef: keep the path if the file is still there (an old run may have been deleted)."""
    return path if Path(path).is_file() else None


def step_message(step: ToolStep) -> Message:
    """One tool call as a collapsed "thought" message: the arguments and what came back (both may quote data)."""
    arguments = json.dumps(step.arguments, ensure_ascii=False, default=str)
    content = f"**Arguments:** {code(arguments)}\n\n{'' if step.ok else '**Failed:** '}{prose(step.summary)}"
    metadata: dict[str, Any] = {"title": f"🔧 {step.name}", "duration": round(step.duration_s, 2), "status": "done"}
    if not step.ok:
        metadata["log"] = "failed"
    return {"role": "assistant", "content": content, "metadata": metadata}


def assistant_message(text: str, images: Sequence[str], image_ref: ImageRef = existing_image) -> Message:
    """The answer's markdown followed by its images, in one chat bubble. Images and raw HTML in the text are
    dropped (a model may repeat a link it read in the data, and the browser would fetch it)."""
    text = strip_remote_media(text)
    files = [{"path": ref} for ref in (image_ref(str(image)) for image in images) if ref]
    if not files:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": [text, *files] if text else files}


def reply_to_messages(reply: Reply, image_ref: ImageRef = existing_image) -> list[Message]:
    """A Reply as chat messages: one collapsible message per tool step, then the answer with its suggested
    next messages as clickable options."""
    answer = assistant_message(reply.text, reply.images, image_ref)
    if reply.options:
        answer["options"] = [{"value": option, "label": option} for option in reply.options]
    return [step_message(step) for step in reply.steps] + [answer]


def running_step_message(name: str, arguments: dict[str, Any]) -> Message:
    """A tool call still running: its step with a spinner (Gradio shows one for status "pending")."""
    shown = json.dumps(arguments, ensure_ascii=False, default=str)
    return {
        "role": "assistant",
        "content": f"**Arguments:** {code(shown)}\n\nRunning…",
        "metadata": {"title": f"🔧 {name}", "status": "pending"},
    }


class LiveTurn:
    """What the chat shows while a turn runs: its tool steps (spinning until done) and the text so far."""

    def __init__(self) -> None:
        self.steps: dict[str, Message] = {}  # by step id, in the order they started
        self.text = ""

    def apply(self, event: TurnEvent) -> None:
        if event.kind == "step_started":
            self.steps[event.step_id] = running_step_message(event.name, event.arguments)
            self.text = ""  # words before a tool call were the model thinking aloud; the answer comes after
        elif event.kind == "step_finished" and event.step is not None:
            self.steps[event.step_id or f"done-{len(self.steps)}"] = step_message(event.step)
        elif event.kind == "text":
            self.text += event.text

    def messages(self) -> list[Message]:
        shown = list(self.steps.values())
        if self.text:
            shown.append({"role": "assistant", "content": strip_remote_media(self.text)})
        return shown


def user_message(text: str, files: Sequence[str] = ()) -> Message:
    """What the user sent, with the dropped files shown as attachments."""
    attachments = [{"path": str(file)} for file in files]
    if not attachments:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [text, *attachments] if text else attachments}


def history_to_messages(history: Sequence[dict[str, Any]], image_ref: ImageRef = existing_image) -> list[Message]:
    """A stored session (Assistant.history) as chat messages, images included; tool steps are not stored."""
    messages: list[Message] = []
    for entry in history:
        if entry["role"] == "assistant":
            messages.append(assistant_message(entry["content"], entry.get("images") or [], image_ref))
        elif entry["role"] == "user":
            messages.append(user_message(entry["content"]))
    return messages


def runs_table(runs: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Rows for the runs table, newest first, from list_runs()' summaries (data as its file name, to fit)."""

    def metric(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, int | float) else ""

    return [
        [
            run["id"],
            run["status"],
            # A local model by its folder name, not its whole path; hub ids (org/name) stay whole.
            Path(run["model"]).name if str(run["model"]).startswith("/") else run["model"],
            Path(run["data"]).name,
            metric(run.get("accuracy")),
            # The task's own ranking metric: macro-F1, RMSE or eval loss.
            run.get("result") or "",
        ]
        for run in reversed(runs)
    ]


def pick_panel_run(runs: Sequence[Mapping[str, Any]], session_id: str | None) -> int | None:
    """The run the progress panel follows: this chat's active run, else any active run, else this chat's
    newest run (to show how it ended), else the newest run of all, else None."""
    mine = [run for run in runs if session_id and run.get("session_id") == session_id]
    for candidates in (
        [run for run in mine if run["status"] in ACTIVE_STATUSES],
        [run for run in runs if run["status"] in ACTIVE_STATUSES],
        mine,
        list(runs),
    ):
        if candidates:
            return int(candidates[-1]["id"])
    return None


def _fmt_seconds(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    minutes, secs = divmod(max(0, int(round(seconds))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


def progress_html(status: dict[str, Any] | None) -> str:
    """The progress panel for one run_status() dict: status, phase, step/total, loss, ETA and a bar."""
    if not status:
        return "<div class='tc-progress'><em>No run yet. Drop a data file and say <b>train</b>.</em></div>"
    step, total = status.get("step"), status.get("total_steps")
    run_state = str(status.get("status", "?"))
    fraction = 1.0 if run_state == "succeeded" else 0.0
    if isinstance(step, int | float) and isinstance(total, int | float) and total > 0:
        fraction = min(1.0, max(0.0, step / total))
    loss = status.get("loss")
    facts = [
        f"<b>Run {html.escape(str(status.get('run_id', '?')))}</b>: {html.escape(run_state)}",
        f"phase {html.escape(str(status.get('phase') or '–'))}",
        f"step {step if step is not None else '–'}/{total if total is not None else '–'}",
        f"loss {loss:.4f}" if isinstance(loss, int | float) else "loss –",
        f"elapsed {_fmt_seconds(status.get('elapsed_s'))}",
    ]
    if run_state in ACTIVE_STATUSES:
        facts.append(f"ETA {_fmt_seconds(status.get('eta_s'))}")
    colour = {"failed": "#d9534f", "cancelled": "#999999", "succeeded": "#2e9e5b"}.get(run_state, "#3b82f6")
    error = status.get("error")
    return (
        "<div class='tc-progress'>"
        f"<div>{' · '.join(facts)}</div>"
        f"<div style='background:#e5e7eb;border-radius:4px;height:12px;margin-top:6px' title='{fraction:.0%}'>"
        f"<div style='background:{colour};width:{fraction * 100:.1f}%;height:12px;border-radius:4px'></div></div>"
        + (f"<div style='color:#d9534f;margin-top:4px'>{html.escape(str(error))}</div>" if error else "")
        + "</div>"
    )


def session_choices(sessions: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Dropdown entries (label, id) for earlier chats that have a title, i.e. at least one message."""
    choices = []
    for session in sessions:
        title = (session.get("title") or "").strip()
        if title:
            when = time.strftime("%b %d %H:%M", time.localtime(session["updated_at"]))
            choices.append((f"{title} · {when}", session["id"]))
    return choices


def header_markdown(mode: str, backend_description: str) -> str:
    line = f"Assistant: **{backend_description}**."
    if mode == "guided":
        line += " " + LLM_HINT
    intro = "Fine-tune models by chatting: drop a data file, inspect it, train, evaluate, compare, deploy."
    return f"# tunechat\n{intro}\n\n{line}"
