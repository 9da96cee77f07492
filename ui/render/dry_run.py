"""A dry run's report as one short table: time per step, peak memory, the projected full run, any error."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_seconds, table
from ui.render.safe import data_text, prose


def render_dry_run(report: dict[str, Any]) -> str:
    error = report.get("error")
    head = "**Dry run failed**" if error else "**Dry run passed**"
    model = str(report.get("model") or "").rstrip("/").rsplit("/", 1)[-1]
    about = " ".join(data_text(part) for part in (report.get("task"), report.get("method")) if part)
    if about or model:
        head += f" ({about}{' of ' + data_text(model) if model else ''})"
    rows: list[list[Any]] = []
    if report.get("steps"):
        per_step = report.get("seconds_per_step")
        times = ", ".join(f"{t:.2f} s" for t in report.get("step_seconds") or [])
        rows.append(["training steps", f"{report['steps']} on the longest examples ({times})"])
        rows.append(["time per step", f"{per_step:.2f} s" if per_step is not None else "–"])
    if report.get("projected_seconds") is not None:
        rows.append(
            [
                "projected full run",
                f"about {fmt_seconds(report['projected_seconds'])} or less "
                f"({report.get('total_steps')} steps × time per step)",
            ]
        )
    if report.get("peak_memory_bytes"):
        kind = f" ({data_text(report['memory_kind'])})" if report.get("memory_kind") else ""
        rows.append(["peak memory", f"{report['peak_memory_bytes'] / 2**30:.2f} GB{kind}"])
    if report.get("examples") is not None:
        tokens = f"{report['examples']} examples tokenized, the longest {report.get('longest_tokens')} tokens"
        if report.get("truncated"):
            tokens += f" ({report['truncated']} cut at max length {report.get('max_length')})"
        rows.append(["data", tokens])
    if report.get("eval_seconds") is not None:
        rows.append(["evaluation step", f"{report['eval_seconds']:.2f} s"])
    if report.get("generation_seconds") is not None:
        rows.append(["generation", f"{report['generation_seconds']:.2f} s"])
    rows.append(["error", prose(error) if error else "none"])
    return head + ":\n\n" + table(["check", "result"], rows)
