"""Tool results as the markdown the rooms show (the web chat, the terminal chat and the command line).

The agent decides what to say; how a plan, an evaluation or a comparison looks is decided here. Guided mode
and the confirmations get this presenter from the room that built the assistant (agent/types.py Presenter).
"""

from __future__ import annotations

from typing import Any

from ui.render import data, dry_run, evaluation_extras, explain, export, format, hosted, runs, search
from ui.render.advice import render_advice


class Markdown:
    """The presenter every room uses: each method turns one kind of tool result into markdown."""

    def seconds(self, seconds: float | None) -> str:
        return format.fmt_seconds(seconds)

    def advice(self, advice: dict[str, Any]) -> str:
        return render_advice(advice)

    def inspection(self, report: dict[str, Any]) -> str:
        return data.render_inspection(report)

    def prepared(self, manifest: dict[str, Any]) -> str:
        return data.render_prepared(manifest)

    def plan(self, plan: dict[str, Any]) -> str:
        return runs.render_plan(plan)

    def status(self, status: dict[str, Any]) -> str:
        return runs.render_status(status)

    def evaluation(self, evaluation: dict[str, Any]) -> str:
        return runs.render_evaluation(evaluation)

    def comparison(self, comparison: dict[str, Any]) -> str:
        return runs.render_comparison(comparison)

    def explanation(self, explanation: dict[str, Any]) -> str:
        return explain.render_explanation(explanation)

    def deployment(self, deployment: dict[str, Any]) -> str:
        return runs.render_deployment(deployment)

    def runs(self, listed: list[dict[str, Any]]) -> str:
        return runs.render_runs(listed)

    def best_run(self, found: dict[str, Any]) -> str:
        return runs.render_best_run(found)

    def diagnosis(self, diagnosis: dict[str, Any]) -> str:
        return runs.render_diagnosis(diagnosis)

    def relaunch_plan(self, plan: dict[str, Any]) -> str:
        return runs.render_relaunch_plan(plan)

    def hosted_plan(self, plan: dict[str, Any]) -> str:
        return hosted.render_hosted_plan(plan)

    def hosted_progress(self, status: dict[str, Any], since: int = 0) -> str:
        return hosted.render_hosted_progress(status, since=since)

    def dry_run(self, report: dict[str, Any]) -> str:
        return dry_run.render_dry_run(report)

    def search_plan(self, plan: dict[str, Any]) -> str:
        return search.render_search_plan(plan)

    def search(self, result: dict[str, Any]) -> str:
        return search.render_search(result)

    def remedy_plan(self, plan: dict[str, Any]) -> str:
        return evaluation_extras.render_remedy_plan(plan)

    def judge(self, result: dict[str, Any]) -> str:
        return evaluation_extras.render_judge(result)

    def export(self, result: dict[str, Any]) -> str:
        return export.render_export(result)


MARKDOWN = Markdown()
