"""What the chat does with a run's evaluation beyond showing it: retrain with the forgetting remedy, and ask an LLM
to judge the tuned model's answers against the base model's. Both only propose: nothing runs, and no request is
sent, until the user says yes (tools/pending.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.history_tools import plan_like_run
from tools.pending import executor, propose_action
from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.evaluate.judge import MAX_PROMPTS, held_out_answers, judge_run, requests_needed

JUDGE = "judge"


def _run_dir(ctx: ToolContext, run_id: int) -> Path:
    run = ctx.registry.get_run(run_id)
    return Path(run["run_dir"] or ctx.workspace.run_dir(run_id))


def _newest(ctx: ToolContext, run_id: int | None) -> int:
    if run_id is not None:
        ctx.registry.get_run(run_id)  # a clear error for an unknown id
        return run_id
    runs = ctx.registry.list_runs(ctx.session_id) or ctx.registry.list_runs()
    succeeded = [run for run in runs if run["status"] == "succeeded"]
    if not succeeded:
        raise UserError("No run has finished successfully yet; train one first, then ask again.")
    return int(succeeded[-1]["id"])


def _forgetting(ctx: ToolContext, run_id: int) -> dict[str, Any]:
    path = _run_dir(ctx, run_id) / "evaluation.json"
    return dict((read_json(path) if path.is_file() else {}).get("forgetting") or {})


def remedy_offered(ctx: ToolContext, run_id: int) -> bool:
    """True when the run's evaluation flagged forgetting and proposed a remedy (the chat offers it as a button)."""
    forgetting = _forgetting(ctx, run_id)
    return bool(forgetting.get("flagged") and forgetting.get("remedy"))


def retrain_with_remedy(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Plan a new run like one whose evaluation flagged forgetting (general ability lost), with the remedy its
    evaluation proposed: general data mixed in at the stated share, a lower learning rate, fewer epochs. Nothing
    starts: the plan waits for the user's yes, which tunechat itself handles.

    Args:
        run_id: The run whose remedy to apply; default this chat's newest succeeded run.
    """
    run_id = _newest(ctx, run_id)
    forgetting = _forgetting(ctx, run_id)
    remedy = forgetting.get("remedy")
    if not forgetting.get("flagged") or not remedy:
        raise UserError(
            f"Run {run_id}'s evaluation did not flag forgetting, so there is no remedy to apply; say 'same as run "
            f"{run_id} but ...' to change settings yourself."
        )
    plan = plan_like_run(ctx, run_id, dict(remedy["changes"]))
    plan["remedy"] = remedy
    plan["message"] = f"Run {run_id} lost general ability; this plan applies the remedy: {remedy['summary']}"
    return plan


def judge_answers(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Propose an LLM-as-judge comparison of a finished SFT run: the configured chat LLM judges the base model's
    and the tuned model's answers to the same held-out prompts, each prompt twice with the answers' order swapped
    (a win counts only when both orders agree). It costs API requests, so it only returns the plan with their
    number; it runs when the user says yes.

    Args:
        run_id: The run to judge; default this chat's newest succeeded run.
    """
    endpoint = ctx.judge
    if endpoint is None:
        raise UserError(
            "No LLM is configured to judge with; set the chat's LLM (tunechat settings) or run "
            "`tunechat judge RUN --judge-base-url URL --judge-model NAME`."
        )
    run_id = _newest(ctx, run_id)
    answers = held_out_answers(_run_dir(ctx, run_id))
    requests = requests_needed(answers)
    summary = (
        f"Ask {endpoint.model} at {endpoint.shown} to judge run {run_id}'s answers to {len(answers)} held-out "
        f"prompts against the base model's: {requests} requests (each prompt twice, the answers' order swapped; "
        f"at most {MAX_PROMPTS} prompts; identical answers are ties without asking)"
    )
    arguments = {"run_id": run_id, "requests": requests, "model": endpoint.model, "url": endpoint.shown}
    plan = propose_action(ctx, JUDGE, arguments, summary)
    return {**plan, "run_id": run_id, "requests": requests, "prompts": len(answers)}


@executor(JUDGE)
def _judge(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The user said yes: judge with the endpoint the plan named (and no other)."""
    endpoint = ctx.judge
    if endpoint is None or (endpoint.model, endpoint.shown) != (arguments["model"], arguments["url"]):
        raise UserError("The judge configured now is not the one the plan named; ask for the judgement again.")
    run_id = int(arguments["run_id"])
    result = judge_run(_run_dir(ctx, run_id), endpoint)
    return {
        **result,
        "run_id": run_id,
        "message": f"Judged run {run_id}: {result['wins']} wins, {result['ties']} ties, {result['losses']} losses",
    }
