"""A language model's evaluation beyond its losses, as markdown: the forgetting check (general ability before and
after, and the remedy when it dropped) and the LLM judge's verdict on base against tuned answers."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_number, table
from ui.render.safe import data_text


def _share(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0%}"


def _signed(value: Any) -> str:
    return "–" if value is None else f"{float(value):+.0%}"


def _changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {fmt_number(value)}" for key, value in changes.items())


def render_forgetting(record: dict[str, Any] | None) -> str:
    """evaluation.json's "forgetting" record: the figures, the sentence, and the remedy when flagged; "" without."""
    if not record:
        return ""
    rows = [
        [
            "perplexity on general text",
            fmt_number(record.get("perplexity_before")),
            fmt_number(record.get("perplexity_after")),
            _signed(record.get("perplexity_rise")),
        ],
        [
            "general questions right",
            f"{record.get('right_before')} of {record.get('questions')}",
            f"{record.get('right_after')} of {record.get('questions')}",
            f"{int(record.get('right_after') or 0) - int(record.get('right_before') or 0):+d}",
        ],
        [
            "next-token KL(base ‖ tuned), nats",
            "0",
            fmt_number(record.get("kl_mean")),
            f"max {fmt_number(record.get('kl_max'))}",
        ],
    ]
    limits = record.get("thresholds") or {}
    heading = (
        "**General ability** (forgetting check, on built-in general data the run never saw; flagged above "
        f"{_share(limits.get('perplexity_rise'))} more perplexity, {limits.get('answers_lost', 2)} fewer questions "
        f"right or KL {fmt_number(limits.get('kl_mean'))}):"
    )
    lines = [heading, "", table(["", "base model", "tuned model", "change"], rows), ""]
    marker = "⚠️ " if record.get("flagged") else ""
    lines.append(marker + data_text(record.get("sentence", "")))
    remedy = record.get("remedy")
    if record.get("flagged") and remedy:
        lines += [
            "",
            f"**Remedy:** {data_text(remedy.get('summary', ''))} As settings: {_changes(remedy.get('changes') or {})}; "
            f"{data_text(remedy.get('next_step', ''))} Say **retrain with the remedy** to get this as a plan.",
        ]
    return "\n".join(lines)


def render_judge(result: dict[str, Any] | None) -> str:
    """judge.json: the judge's wins, ties and losses of the tuned model against the base one; "" without."""
    if not result:
        return ""
    prompts = result.get("prompts") or 0
    inconsistent = int(result.get("inconsistent") or 0)
    text = (
        f"**LLM judge** ({data_text(result.get('judge_model', ''))} at {data_text(result.get('judge_url', ''))}, "
        f"{prompts} held-out prompts, each judged twice with the answers' order swapped): the tuned model wins "
        f"{result.get('wins', 0)}, ties {result.get('ties', 0)} and loses {result.get('losses', 0)} against the base "
        f"model (win share {_share(result.get('win_share'))})."
    )
    if inconsistent:
        text += (
            f" {inconsistent} of the ties are prompts where the two orders picked different answers: the judge "
            "preferred a position, not an answer, so they count as ties."
        )
    return text


def render_remedy_plan(plan: dict[str, Any]) -> str:
    """The plan of a new run with the forgetting remedy, waiting for the user's yes."""
    changed = ", ".join(
        f"{key.replace('_', ' ')} {fmt_number(value['from'])} → {fmt_number(value['to'])}"
        for key, value in (plan.get("changes") or {}).items()
    )
    return (
        f"{data_text(plan.get('message', ''))}\n\nA new run like **run {plan.get('like_run')}**, changing {changed}. "
        "Nothing has started yet: say **yes** to start it, or **no**."
    )
