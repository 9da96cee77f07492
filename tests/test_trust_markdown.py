"""Data in chat markdown is shown as text: labels, cells, column names and sample texts cannot add markup,
break a table, open a code span, embed raw HTML or make the browser fetch a remote image.

The markdown is rendered with markdown-it (CommonMark with tables and raw HTML on, as a chat renders it) and
the HTML is checked, so what is asserted is what a browser would get.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from agent.assistant import Assistant
from agent.types import Reply, ToolStep
from ui import web_view
from ui.render import MARKDOWN
from ui.render.safe import code, data_text, prose, strip_remote_media

IMAGE = "![x](http://evil/x.png)"
HTML = "<img src=http://evil/y.png>"
BOLD = "**bold**"
PIPE_TICK = "a|b `tick`"
NASTY = [IMAGE, HTML, BOLD, PIPE_TICK, f"{BOLD} {PIPE_TICK} {IMAGE} {HTML}"]

RENDER = MarkdownIt("commonmark", {"html": True}).enable("table")


def html_of(markdown: str) -> str:
    return RENDER.render(markdown)


def assert_inert(markdown: str, code_spans: bool = False) -> str:
    """No image, no raw HTML, no markup from the data, every table row as wide as its header. (`prose` cannot
    tell a backtick of the data from its own quotes, so there the data's backticks may make a code span.)"""
    html = html_of(markdown)
    assert "<img" not in html and "evil" not in html, html
    assert "<strong>bold</strong>" not in html and "<em>bold</em>" not in html, html
    assert code_spans or "<code>tick</code>" not in html, html
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        widths = [len(re.findall(r"<t[hd]\b", row)) for row in re.findall(r"<tr>.*?</tr>", table, flags=re.S)]
        assert len(set(widths)) == 1, (widths, table)
    return html


def test_the_helpers_keep_data_as_text() -> None:
    for value in NASTY:
        assert_inert(data_text(value))
        assert_inert(f"label {code(value)} here")
        assert_inert(prose(f"the column `{value}` says {value}"), code_spans=True)
    # What is left is the data itself, readable: markup characters shown, not applied.
    assert html_of(data_text(f"{BOLD} {PIPE_TICK}")) == "<p>**bold** a|b `tick`</p>\n"
    assert html_of(code("a `b` c")) == "<p><code>a `b` c</code></p>\n"
    assert data_text("line one\nline two") == "line one line two"
    # An escaped backslash before a tag cannot smuggle the tag past the stripping.
    assert_inert(data_text("\\" + HTML))
    assert_inert(strip_remote_media("\\\\" + HTML + " \\\\" + IMAGE))
    # Ordinary text is left as it was, so the command line prints it plainly.
    assert data_text("review_text, 3.5 stars - great (really)") == "review_text, 3.5 stars - great (really)"


def write_nasty_csv(path: Path) -> Path:
    header = "label,review `x` **y** |z <img src=http://evil/c.png>"
    labels = [IMAGE, HTML, f"{BOLD}|`t`"]
    rows = [f'"{labels[i % 3]}","review {i} {BOLD} {PIPE_TICK} {IMAGE} {HTML} words"' for i in range(30)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_inspection_prepare_and_plan_of_nasty_data(tmp_path: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    inspected = assistant.reply(session, "inspect", files=[write_nasty_csv(tmp_path / "nasty.csv")])
    html = assert_inert(inspected.text)
    assert "**bold**|`t`" in html  # the label, shown as it is written
    assert "<table>" in html
    for message in ("clean it up", "fine-tune a classifier on this"):
        assert_inert(assistant.reply(session, message).text)


def nasty_evaluation() -> dict[str, Any]:
    return {
        "run_id": 3,
        "accuracy": 0.5,
        "macro_f1": 0.5,
        "test_size": 4,
        "baseline": {"label": IMAGE, "accuracy": 0.5, "macro_f1": 0.3},
        "per_class": {
            label: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2} for label in (HTML, f"{BOLD}|`t`")
        },
    }


def test_every_renderer_escapes_what_came_from_data() -> None:
    assert_inert(MARKDOWN.evaluation(nasty_evaluation()))
    samples = {"prompts": [[{"role": "user", "content": value}] for value in NASTY], "before": NASTY, "after": NASTY}
    assert_inert(MARKDOWN.evaluation({"run_id": 4, "task": "sft", "method": "lora", "samples": samples}))
    runs = [{"id": 1, "status": "failed", "model": BOLD, "data": f"/ws/uploads/{IMAGE}", "accuracy": None}]
    assert_inert(MARKDOWN.runs(runs))
    assert_inert(MARKDOWN.status({"run_id": 1, "status": "failed", "error": f"label {HTML} unknown {BOLD}"}))
    report = {
        "task": "sft",
        "file": IMAGE,
        "rows": 3,
        "mapping": {"messages": PIPE_TICK},
        "task_reason": f"the column `{PIPE_TICK}` holds {HTML}",
        "labels": [{"label": HTML, "count": 1, "share": 1.0}],
        "problems": [{"code": "odd", "count": 1, "message": f"row with {IMAGE}"}],
        "notes": [BOLD],
    }
    assert_inert(MARKDOWN.inspection(report))
    comparison = {
        "run_ids": [1, 2],
        "config_rows": [{"field": "data", "values": [IMAGE, HTML], "differs": True}],
        "metric_rows": [{"metric": "accuracy", "values": [0.5, 0.6]}],
        "notes": [],
    }
    html = assert_inert(MARKDOWN.comparison(comparison))
    assert "<strong>data</strong> ≠" in html  # the renderer's own markup is kept
    hosted = {"file": PIPE_TICK, "task": "sft", "labels": [IMAGE, HTML], "notes": [BOLD], "hyperparameters": {}}
    assert_inert(MARKDOWN.hosted_plan(hosted))
    assert_inert(MARKDOWN.hosted_progress({"events": [{"message": f"{IMAGE} {HTML}"}], "fine_tuned_model": BOLD}))
    diagnosis = {
        "run_id": 1,
        "status": "failed",
        "cause": "bad_data",
        "explanation": f"label {IMAGE}",
        "evidence": f"```\n{HTML}\n```",
        "changes": {"label_column": BOLD},
        "reasons": {"label_column": HTML},
    }
    assert_inert(MARKDOWN.diagnosis(diagnosis))
    plan = {"config": {"data": IMAGE}, "file": PIPE_TICK, "subject": f"text `{BOLD}`", "table": [["model", HTML, BOLD]]}
    assert_inert(MARKDOWN.plan(plan))
    flip = {"input": NASTY[-1], "label": PIPE_TICK, "before": IMAGE, "after": HTML}
    explanation = {
        "run_ids": [1, 2],
        "headline": "Run 2 beat run 1 on macro-F1: 0.9 against 0.8 (0.1 higher).",
        "differences": [{"field": "data", "values": [IMAGE, HTML]}],
        "curves": [{"run_id": 1, "sentence": "run 1 was still improving at its end."}],
        "per_class": [{"label": PIPE_TICK, "f1": [0.5, 0.7], "change": 0.2}],
        "examples": {"kind": "classification", "comparable": True, "examples": 2, "fixed_count": 1, "broken_count": 1,
                     "fixed": [flip], "broken": [flip]},
        "next_run": {"like_run": 2, "changes": {"placeholders": BOLD}, "reason": f"the column `{PIPE_TICK}` {HTML}"},
        "notes": [f"label {IMAGE}"],
    }  # fmt: skip
    assert_inert(MARKDOWN.explanation(explanation), code_spans=True)


def test_the_web_chat_shows_tool_steps_and_llm_text_without_remote_media() -> None:
    step = ToolStep("inspect_data", {"file": f"`{IMAGE}` {HTML}"}, True, f"label={IMAGE} {HTML} {BOLD}", 0.1)
    reply = Reply(text=f"Your labels: {IMAGE} and {HTML}. <b>ok</b>", steps=[step])
    for message in web_view.reply_to_messages(reply):
        html = html_of(str(message["content"]))
        assert "<img" not in html and "evil" not in html, html
    live = web_view.LiveTurn()
    from agent.types import TurnEvent

    live.apply(TurnEvent("step_started", step_id="1", name="inspect_data", arguments={"file": IMAGE + HTML}))
    live.apply(TurnEvent("text", text=f"so far {IMAGE}"))
    for message in live.messages():
        assert "evil" not in html_of(str(message["content"]))
