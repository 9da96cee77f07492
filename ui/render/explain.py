"""The explanation of a comparison as markdown: who won and by how much, what differed, what the curves say,
per-class and per-example changes (a short table), and the proposed next run."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_number, table
from ui.render.safe import data_text, prose

# Rows of each flip table in the chat; the result itself lists more.
SHOWN = 5
# Longest input shown in a table cell, in characters.
CELL = 80


def render_explanation(result: dict[str, Any]) -> str:
    before, after = result["run_ids"]
    parts = [f"**{prose(result['headline'])}**"]
    differences = result.get("differences") or []
    if differences:
        rows = [[data_text(d["field"]), *[data_text(fmt_number(v)) for v in d["values"]]] for d in differences]
        parts.append("**What differed:**\n\n" + table(["setting", f"run {before}", f"run {after}"], rows))
    else:
        parts.append("The two runs have the same settings.")
    curves = result.get("curves") or []
    if curves:
        parts.append("**Curves** (training solid, validation dashed):\n\n" + "\n".join(_sentence(c) for c in curves))
    per_class = [row for row in result.get("per_class") or [] if row.get("change")]
    if per_class:
        rows = [
            [data_text(r["label"]), fmt_number(r["f1"][0]), fmt_number(r["f1"][1]), _signed(r["change"])]
            for r in per_class[:10]
        ]
        parts.append("**F1 per class:**\n\n" + table(["class", f"run {before}", f"run {after}", "change"], rows))
    parts.append(_examples(result.get("examples") or {}, before, after))
    parts.append(_next(result))
    for note in result.get("notes") or []:
        parts.append(prose(note))
    return "\n\n".join(part for part in parts if part)


def _sentence(curve: dict[str, Any]) -> str:
    text = str(curve.get("sentence") or "")
    return "- " + prose(text[:1].upper() + text[1:])


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def _cut(value: Any) -> str:
    text = str(value if value is not None else "")
    return data_text(text if len(text) <= CELL else text[: CELL - 1] + "…")


def _examples(examples: dict[str, Any], before: int, after: int) -> str:
    if not examples.get("comparable"):
        return prose(examples["note"]) if examples.get("note") else ""
    kind = examples.get("kind")
    if kind == "classification":
        head = (
            f"**Test examples** ({examples['examples']}): from run {before} to run {after}, "
            f"{examples['fixed_count']} went from wrong to right and {examples['broken_count']} from right to wrong."
        )
        rows = [
            ["wrong → right", _cut(e["input"]), _cut(e["label"]), _cut(e["before"]), _cut(e["after"])]
            for e in examples["fixed"][:SHOWN]
        ]
        rows += [
            ["right → wrong", _cut(e["input"]), _cut(e["label"]), _cut(e["before"]), _cut(e["after"])]
            for e in examples["broken"][:SHOWN]
        ]
        headers = ["", "text", "true label", f"run {before}", f"run {after}"]
    elif kind == "regression":
        head = (
            f"**Test examples** ({examples['examples']}): from run {before} to run {after}, the error shrank on "
            f"{examples['improved_count']} and grew on {examples['worsened_count']} (mean absolute error "
            f"{fmt_number(examples.get('before_mae'))} → {fmt_number(examples.get('after_mae'))})."
        )
        rows = [
            [word, _cut(e["input"]), fmt_number(e["target"]), fmt_number(e["before"]), fmt_number(e["after"])]
            for word, key in (("closer", "improved"), ("further", "worsened"))
            for e in examples[key][:SHOWN]
        ]
        headers = ["", "text", "true value", f"run {before}", f"run {after}"]
    else:
        head = (
            f"**Held-out answers** ({examples['examples']}): from run {before} to run {after}, "
            f"{examples['improved_count']} came closer to the reference and {examples['worsened_count']} went "
            f"further; {examples['fixed_count']} became exact and {examples['broken_count']} stopped being exact."
        )
        rows = [
            [word, _cut(e["input"]), _cut(e["reference"]), _cut(e["before"]), _cut(e["after"])]
            for word, key in (("closer", "improved"), ("further", "worsened"))
            for e in examples[key][:SHOWN]
        ]
        headers = ["", "prompt", "reference", f"run {before}", f"run {after}"]
    text = head + ("\n\n" + table(headers, rows) if rows else "")
    counts = (("fixed_count", "fixed"), ("broken_count", "broken"))
    if kind != "classification":
        counts = (("improved_count", "improved"), ("worsened_count", "worsened"))
    hidden = sum(
        max(0, int(examples.get(count) or 0) - min(SHOWN, len(examples.get(key) or []))) for count, key in counts
    )
    return text + (f"\n\n…and {hidden} more not shown here." if hidden and rows else "")


def _next(result: dict[str, Any]) -> str:
    proposal = result.get("next_run")
    if not proposal:
        return ""
    if not proposal.get("changes"):
        return "**Next run:** none proposed. " + prose(proposal["reason"])
    changes = ", ".join(
        f"{data_text(key.replace('_', ' '))} {data_text(fmt_number(value))}"
        for key, value in proposal["changes"].items()
    )
    text = f"**Next run:** like run {proposal['like_run']} with {changes}. {prose(proposal['reason'])}"
    if result.get("plan", {}).get("needs_confirmation"):
        text += "\n\nSay **yes** to start it, or **no** to leave it."
    return text
