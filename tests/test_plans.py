"""The one plan that waits for a yes: what starts is exactly the plan shown, and it starts once."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import toy_task
from scripted_model import ScriptedChatModel, say, tool_call

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.data_tools import propose_plan
from tools.pending import confirm_pending, pending_action
from trainer.backends import runs
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry
from ui.render import MARKDOWN


def _confirm_in_another_process(root: str, session: str, start: Any, results: Any) -> None:
    """One "yes" from another process (a second tab, the CLI), sent at the same moment as the others."""
    workspace = Workspace(Path(root))
    ctx = ToolContext(workspace, Registry(workspace.db_path), session)
    start.wait()
    try:
        results.put(("started", confirm_pending(ctx, kind="train")["run_id"]))
    except UserError as error:
        results.put(("refused", str(error)))


def test_confirmations_at_once_from_several_processes_start_one_run(
    keyword_task: toy_task.KeywordVote, reviews_tsv: Path
) -> None:
    ctx = ToolContext.from_env(session_id="tabs")
    name = ctx.workspace.import_file(reviews_tsv, session_id="tabs").name
    forked = multiprocessing.get_context("fork")
    for round_number in range(1, 4):
        propose_plan(ctx, name, task=keyword_task.name)
        start, results = forked.Event(), forked.Queue()
        args = (str(ctx.workspace.root), "tabs", start, results)
        workers = [forked.Process(target=_confirm_in_another_process, args=args) for _ in range(4)]
        for worker in workers:
            worker.start()
        start.set()  # four "yes" at the same moment
        for worker in workers:
            worker.join(timeout=60)
        outcomes = [results.get(timeout=5) for _ in workers]

        started = [value for kind, value in outcomes if kind == "started"]
        refusals = [value for kind, value in outcomes if kind == "refused"]
        assert len(started) == 1 and len(refusals) == 3, outcomes
        # Whoever lost the race was told in one sentence; the plan was not carried out twice.
        assert all(("already carried out" in text or "nothing waiting" in text) for text in refusals)
        assert [run["id"] for run in ctx.registry.list_runs()][-1] == started[0]
        assert len(ctx.registry.list_runs()) == round_number and pending_action(ctx) is None


def _with_tiny(assistant: Assistant, tiny_bert: Path) -> Assistant:
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    return assistant


def _launched_config(assistant: Assistant, run_id: int) -> dict[str, Any]:
    config = json.loads((assistant.workspace.run_dir(run_id) / "config.json").read_text())
    runs.stop_run(assistant.workspace, assistant.registry, run_id, grace_s=5)
    return config


def test_guided_go_starts_exactly_the_plan_shown_last(reviews_tsv: Path, tiny_bert: Path) -> None:
    assistant = _with_tiny(Assistant(presenter=MARKDOWN), tiny_bert)
    session = assistant.new_session()
    assistant.reply(session, "here is my data", files=[reviews_tsv])
    first = assistant.reply(session, "fine-tune a classifier on this, use model tiny")
    shown = [step.result for step in first.steps if step.name == "propose_plan"][-1]
    changed = assistant.reply(session, "use 2 epochs")
    shown = [step.result for step in changed.steps if step.name == "propose_plan"][-1]
    assert shown["config"]["epochs"] == 2 and assistant.registry.list_runs() == []

    started = assistant.reply(session, "go")
    run_id = started.steps[-1].result["run_id"]
    assert _launched_config(assistant, run_id) == shown["config"]
    again = assistant.reply(session, "go")  # the plan was used: a second go plans again, it starts nothing
    assert len(assistant.registry.list_runs()) == 1 and "Plan" in again.text


def test_the_llm_starts_only_the_plan_it_showed(reviews_tsv: Path, tiny_bert: Path) -> None:
    shown: list[dict[str, Any]] = []

    def keep(messages: list[Any]) -> Any:
        shown.append(json.loads(messages[-1].content))
        return say("Here is the plan. Shall I start?")

    model = ScriptedChatModel().add(
        tool_call("propose_plan", file="reviews.tsv", model="tiny", epochs=2),
        keep,
        # The user agreed to 2 epochs; a model that starts 3 gets the new plan back, and nothing starts.
        tool_call("start_training", file="reviews.tsv", model="tiny", epochs=3),
        keep,
        tool_call("start_training", file="reviews.tsv", model="tiny", epochs=3),
        lambda messages: say(f"Started run {json.loads(messages[-1].content)['run_id']}."),
    )
    assistant = _with_tiny(Assistant(chat_model=model, presenter=MARKDOWN), tiny_bert)
    session = assistant.new_session()
    assistant.reply(session, "plan a classifier with 2 epochs", files=[reviews_tsv])
    assistant.reply(session, "go")
    assert shown[1]["started"] is False and shown[1]["config"]["epochs"] == 3
    assert assistant.registry.list_runs() == []

    reply = assistant.reply(session, "yes, 3 epochs is what I want")
    run_id = reply.steps[-1].result["run_id"]
    assert _launched_config(assistant, run_id) == shown[1]["config"]
    assert shown[0]["config"]["epochs"] == 2 and len(assistant.registry.list_runs()) == 1
