"""An export as markdown: where it went, whether it answers like the trained model (parity), its files, and the
commands that run it elsewhere; a push to the Hub that waits for the yes."""

from __future__ import annotations

from typing import Any

from ui.render.format import table
from ui.render.safe import code, code_block, data_text, prose

# Files listed before "and N more" (a hub folder of a big model has many shards).
FILES_SHOWN = 12


def _size(size: Any) -> str:
    value = float(size or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def render_parity(result: dict[str, Any], form: str = "the export") -> str:
    """The verdict in one line, then the first prompt or input that differed and the fix."""
    sentence = data_text(result.get("parity_sentence") or "")
    ok = result.get("parity_ok")
    if ok is None:
        return f"**Parity:** {sentence}" if sentence else "**Parity:** not checked for this format."
    verdict = "✅ agrees" if ok else "❌ disagrees"
    lines = [f"**Parity ({verdict}):** {sentence}"]
    parity = result.get("parity") or {}
    first = parity.get("first_mismatch")
    if not ok and isinstance(first, dict):
        lines.append(
            f"First difference: on {code(first.get('input', ''))} the trained model gave "
            f"{code(first.get('trained', ''))}, {form} {code(first.get('exported', ''))}."
        )
    return "\n\n".join(lines)


def render_export(result: dict[str, Any]) -> str:
    lines = [
        f"**Run {result.get('run_id')} exported as {data_text(result.get('format', ''))}** to "
        f"{code(result.get('folder', ''))}.",
        "",
        render_parity(result),
    ]
    files = list(result.get("files") or [])
    if files:
        rows = [
            [data_text(item["path"]), _size(item.get("size")), code(str(item.get("sha256", ""))[:12])]
            for item in files[:FILES_SHOWN]
        ]
        lines += ["", table(["file", "size", "sha256"], rows)]
        if len(files) > FILES_SHOWN:
            lines.append(f"… and {len(files) - FILES_SHOWN} more (all in manifest.json).")
    notes = result.get("notes") or []
    if notes:
        lines += ["", *[f"- {prose(note)}" for note in notes]]
    commands = result.get("commands") or []
    if commands:
        lines += ["", "Run it elsewhere:", code_block("\n".join(str(command) for command in commands))]
    push = result.get("push")
    if isinstance(push, dict) and push.get("plan"):
        lines += ["", f"**Plan:** {data_text(push['plan'])}. Nothing is uploaded yet: say **yes** to push, or **no**."]
    return "\n".join(lines)


def render_push(result: dict[str, Any]) -> str:
    return f"Pushed run {result.get('run_id')} to {code(result.get('url', ''))}."
