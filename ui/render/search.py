"""A hyperparameter search as markdown: the plan waiting for a yes, and the table of trials with the best one."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_number, fmt_seconds, table
from ui.render.safe import data_text


def render_search_plan(plan: dict[str, Any]) -> str:
    lines = [f"**Plan:** {data_text(plan.get('plan', ''))}.", "", "Searched settings:"]
    lines += [f"- {data_text(line)}" for line in plan.get("space", [])]
    lines += [
        "",
        "Each trial is a real run in the run list; the first uses the plan's own settings, and trials clearly worse "
        "than the median at the same epoch are stopped early.",
    ]
    return "\n".join(lines)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{data_text(key)} {fmt_number(value)}" for key, value in params.items())


def _state(row: dict[str, Any]) -> str:
    notes = [note for key, note in (("interrupted", "interrupted, re-run"), ("planned", "the plan")) if row.get(key)]
    return row["state"] + (f" ({', '.join(notes)})" if notes else "")


def render_search(result: dict[str, Any]) -> str:
    """The trials (settings, validation value, state, run) and the best one; the plot is shown beside it."""
    metric = str(result.get("metric", "metric"))
    header = (
        f"**{data_text(result.get('study', 'search'))}** ({data_text(result.get('status', ''))}): "
        f"{result.get('direction', '')} validation {data_text(metric)}, "
        f"{fmt_seconds(result.get('seconds_spent'))} of training so far."
    )
    rows = [
        [
            row["trial"],
            _params(row["params"]),
            fmt_number(row["value"]),
            row["state"]
            + (" (interrupted, re-run)" if row.get("interrupted") else "")
            + (" (plan)" if row.get("planned") else ""),
            row.get("run_id") if row.get("run_id") is not None else "–",
        ]
        for row in result.get("trials", [])
    ]
    lines = [header, ""]
    if rows:
        lines.append(table(["trial", "settings", data_text(metric), "state", "run"], rows))
    else:
        lines.append("No trial has started yet.")
    best = result.get("best")
    if best:
        lines += [
            "",
            f"**Best:** trial {best['trial']} (run {best.get('run_id')}), {data_text(metric)} "
            f"{fmt_number(best['value'])} with {_params(best['params'])}.",
        ]
        if result.get("planned_value") is not None:
            lines.append(f"The plan's own settings reached {fmt_number(result['planned_value'])}.")
    if result.get("error"):
        lines += ["", data_text(result["error"])]
    if result.get("next_step"):
        lines += ["", data_text(result["next_step"])]
    if result.get("next_plan"):
        lines += ["", f"**Next run:** {data_text(result['next_plan'].get('plan', ''))}. Reply **yes** to start it."]
    return "\n".join(lines)
