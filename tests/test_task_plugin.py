"""A task is a plug-in: one registered in a test runs the whole loop without any other module knowing it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import toy_task
from polling import wait_for_status

from tools.context import ToolContext
from tools.data_tools import propose_plan
from tools.pending import confirm_pending, pending_action
from tools.run_tools import deploy_run, evaluate_run
from trainer.serve.deploy import list_deployments, stop_deployment
from trainer.tasks.registry import task_names


def test_a_task_registered_in_a_test_is_planned_trained_evaluated_and_served(
    keyword_task: toy_task.KeywordVote, reviews_tsv: Path
) -> None:
    assert keyword_task.name in task_names()
    ctx = ToolContext.from_env(session_id="plug-in")
    name = ctx.workspace.import_file(reviews_tsv, session_id="plug-in").name

    # Plan: the task's own planner, through the same tool as every task; nothing starts.
    plan = propose_plan(ctx, name, task=keyword_task.name)
    assert plan["config"]["task"] == keyword_task.name and plan["reasons"]["split"].startswith("80/10/10")
    assert ctx.registry.list_runs() == [] and pending_action(ctx, "train") is not None

    # Train: the shown plan starts in a worker process, which loads the plug-in from the environment.
    started = confirm_pending(ctx, kind="train")  # the user's yes
    run_id = started["run_id"]
    assert started["config"] == plan["config"]
    final = wait_for_status(ctx.workspace, ctx.registry, run_id, timeout_s=60)
    assert final["status"] == "succeeded", final.get("error")
    run_dir = ctx.workspace.run_dir(run_id)
    assert (run_dir / "model" / "keywords.json").is_file() and "Traceback" not in (run_dir / "train.log").read_text()

    # Evaluate: the review words carry the class, so voting on them is right on the held-out texts.
    evaluation = evaluate_run(ctx, run_id)
    assert evaluation["accuracy"] >= 0.9 and evaluation["test_size"] == 12

    # Serve: the deployment plan waits for a yes, then a server process loads the plug-in's model.
    planned = deploy_run(ctx, run_id)
    assert planned["needs_confirmation"]
    deployment = confirm_pending(ctx, planned["action_id"])
    try:
        assert deployment["healthy"] and deployment["predict_url"].endswith("/predict")
        body = json.dumps({"inputs": ["the food was wonderful", "the service was dreadful"]}).encode()
        request = urllib.request.Request(
            deployment["predict_url"], data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answers = json.loads(response.read())
        assert [answer[0]["label"] for answer in answers] == ["pos", "neg"]
        assert [d["run_id"] for d in list_deployments(ctx.workspace, ctx.registry)] == [run_id]
    finally:
        stop_deployment(ctx.workspace, ctx.registry, run_id)
