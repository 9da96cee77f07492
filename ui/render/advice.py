"""The method advisor's answer as markdown: the task, model and method it chose and why, or its question."""

from __future__ import annotations

from typing import Any


def render_advice(advice: dict[str, Any]) -> str:
    """What fits the described goal, why, what else could, and what the data says (or the question to ask)."""
    lines = []
    if advice.get("question") and not advice.get("choices"):
        return str(advice["question"])
    lines.append(
        f"**Method:** {advice['title']} on {advice['family']} "
        f"(default model `{advice['model']}`, method `{advice['method']}`)."
    )
    lines.append(f"**Why:** {advice['why']}")
    if advice.get("evidence"):
        lines.append(f"_Chosen from {advice['evidence']}._")
    if advice.get("question"):
        lines.append(str(advice["question"]) + " Say " + " or ".join(f"**{c}**" for c in advice["choices"]) + ".")
    elif advice.get("alternatives"):
        others = ", ".join(f"{a['title']} (**{a['say']}**)" for a in advice["alternatives"])
        lines.append(f"Also possible: {others}.")
    if advice.get("data_note"):
        lines.append(f"**Your data:** {advice['data_note']}")
    return "\n\n".join(lines)
