"""A language-model run against its base model, as markdown: the held-out figures of both side by side, and their
greedy answers to the same held-out prompts (SFT), or how often those answers are closer to the chosen answer
than to the rejected one (DPO, ORPO, KTO). Model answers are data: shortened, then escaped like any cell."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_number, table
from ui.render.safe import data_text, prose

# Answers shown side by side, and the characters kept of each cell (the full text is in evaluation.json).
SHOWN_ANSWERS = 5
CELL_CHARS = 90
# How the figures are headed, and which way is better (for the marker of the better model).
HEADINGS = {
    "eval_loss": ("validation loss", -1),
    "perplexity": ("perplexity", -1),
    "exact_match": ("exact match", 1),
    "token_f1": ("token F1", 1),
    "rouge_l": ("ROUGE-L", 1),
    "chrf": ("chrF (0-100)", 1),
}


def shorten(text: Any, limit: int = CELL_CHARS) -> str:
    """At most `limit` characters of one line of text, cut at a word where one is near, with an ellipsis."""
    flat = " ".join(str(text if text is not None else "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.6 else cut).rstrip() + "…"


def _figure_rows(evaluation: dict[str, Any]) -> list[list[Any]]:
    base = evaluation.get("base") or {}
    chosen = list((evaluation.get("answer_metrics") or {}).get("metrics") or [])
    rows = []
    for name in ("eval_loss", "perplexity", *chosen):
        before, after = base.get(name), evaluation.get(name)
        if before is None and after is None:
            continue
        heading, direction = HEADINGS.get(name, (name.replace("_", " "), 0))
        better = ""
        if isinstance(before, int | float) and isinstance(after, int | float) and direction and before != after:
            better = "tuned" if (after - before) * direction > 0 else "base"
        rows.append([heading, fmt_number(before), fmt_number(after), better])
    return rows


def render_base_vs_tuned(evaluation: dict[str, Any]) -> str:
    """The base model and the tuned one on the same held-out rows, and their answers to a few prompts; "" when the
    evaluation has no base figures (a run from before they were measured)."""
    if not isinstance(evaluation.get("base"), dict):
        return ""
    rows = _figure_rows(evaluation)
    info = evaluation.get("answer_metrics") or {}
    lines = [
        f"**Base model against tuned model** on held-out examples (greedy answers to {info.get('prompts', 0)} "
        f"prompts, at most {info.get('max_new_tokens', '?')} tokens each):",
        "",
        table(["", "base model", "tuned model", "better"], rows),
    ]
    if info.get("why"):
        lines += ["", f"_{prose(info['why'])}_"]
    answers = evaluation.get("held_out_answers") or []
    if answers:
        shown = [
            [data_text(shorten(row.get(key))) for key in ("prompt", "reference", "base", "tuned")]
            for row in answers[:SHOWN_ANSWERS]
        ]
        lines += ["", table(["prompt", "reference", "base model", "tuned model"], shown)]
        if len(answers) > SHOWN_ANSWERS:
            lines.append(f"\n{len(answers) - SHOWN_ANSWERS} more answers are in the run's evaluation.json.")
    return "\n".join(lines)


def _share(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0%}"


def render_closeness(closeness: dict[str, Any] | None) -> str:
    """How often greedy answers to held-out prompts were closer to the chosen answer, before and after; "" without
    the record."""
    if not closeness:
        return ""
    if not closeness.get("measurable"):
        return prose(closeness.get("reason") or "")
    before, after = closeness.get("before") or {}, closeness.get("after") or {}
    lines = [
        f"**Own answers** to {after.get('prompts', 0)} held-out prompts closer (ROUGE-L) to the chosen answer than "
        f"to the rejected one: {_share(before.get('closer_to_chosen'))} before training, "
        f"{_share(after.get('closer_to_chosen'))} after (ties {_share(after.get('ties'))}).",
    ]
    answers = closeness.get("answers") or []
    if answers:
        keys = ("prompt", "chosen", "rejected", "base", "tuned")
        rows = [[data_text(shorten(row.get(key), 60)) for key in keys] for row in answers[:SHOWN_ANSWERS]]
        lines += ["", table(["prompt", "chosen", "rejected", "before", "after"], rows)]
    return "\n".join(lines)
