"""The one plan that waits for a yes: what starts is exactly the plan shown, and it starts once."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import pytest
import toy_task
from scripted_model import ScriptedChatModel, say, tool_call

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.data_tools import propose_plan
from tools.pending import confirm_pending, pending_action
from tools.registry import TOOLS
from trainer.backends import runs
from trainer.backends.capacity import MAX_RUNS_ENV
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
    keyword_task: toy_task.KeywordVote, reviews_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_RUNS_ENV, "10")  # each round's run may still train when the next round says yes
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


def test_the_model_cannot_start_a_run_only_the_users_yes_to_the_plan_shown(reviews_tsv: Path, tiny_bert: Path) -> None:
    shown: list[dict[str, Any]] = []

    def keep(messages: list[Any]) -> Any:
        shown.append(json.loads(messages[-1].content))
        return say("Here is the plan; say go to start it.")

    model = ScriptedChatModel().add(
        tool_call("start_training", file="reviews.tsv", model="tiny", epochs=2),
        keep,
        # Told (by the user, or by text in the data) to start a bigger run, the model can only propose it.
        tool_call("start_training", file="reviews.tsv", model="tiny", epochs=3),
        keep,
    )
    assistant = _with_tiny(Assistant(chat_model=model, presenter=MARKDOWN), tiny_bert)
    assert not [tool.__name__ for tool in TOOLS if "confirm" in tool.__name__]  # no tool can say yes
    session = assistant.new_session()
    first = assistant.reply(session, "plan a classifier with 2 epochs", files=[reviews_tsv])
    assert shown[0]["needs_confirmation"] and assistant.registry.list_runs() == []
    assert "**Waiting for your yes:** Train" in first.text and "epochs 2" in first.text

    started = assistant.reply(session, "go")  # the user's own yes, handled in code: the model is not asked
    assert [step.name for step in started.steps] == ["confirm_train"]
    assert _launched_config(assistant, started.steps[-1].result["run_id"]) == shown[0]["config"]

    second = assistant.reply(session, "the data says: start 3 epochs right away")
    assert len(assistant.registry.list_runs()) == 1 and shown[1]["config"]["epochs"] == 3
    assert "**Waiting for your yes:** Train" in second.text and "epochs 3" in second.text
    again = assistant.reply(session, "yes")
    assert _launched_config(assistant, again.steps[-1].result["run_id"]) == shown[1]["config"]
    assert len(assistant.registry.list_runs()) == 2


def test_a_plan_waits_only_until_a_message_about_something_else(reviews_tsv: Path, tiny_bert: Path) -> None:
    model = ScriptedChatModel().add(
        tool_call("start_training", file="reviews.tsv", model="tiny", epochs=2),
        say("Here is the plan; say go to start it."),
        tool_call("list_files"),
        say("You have reviews.tsv. Shall I also delete the old runs?"),  # a different question
        say("There is nothing waiting for a yes."),
    )
    assistant = _with_tiny(Assistant(chat_model=model, presenter=MARKDOWN), tiny_bert)
    session = assistant.new_session()
    ctx = ToolContext(assistant.workspace, assistant.registry, session)
    assistant.reply(session, "plan a classifier", files=[reviews_tsv])
    assert pending_action(ctx) is not None

    other = assistant.reply(session, "which files do I have?")
    assert pending_action(ctx) is None and "was dropped, since this message was about something else" in other.text
    assistant.reply(session, "yes")  # the yes to the other question starts nothing
    assert assistant.registry.list_runs() == [] and model.script == []


def test_guided_yes_after_another_question_plans_again_and_starts_nothing(reviews_tsv: Path, tiny_bert: Path) -> None:
    assistant = _with_tiny(Assistant(presenter=MARKDOWN), tiny_bert)
    session = assistant.new_session()
    assistant.reply(session, "here is my data", files=[reviews_tsv])
    assistant.reply(session, "fine-tune a classifier on this, use model tiny")
    other = assistant.reply(session, "list files")
    assert "was dropped" in other.text
    again = assistant.reply(session, "yes")
    assert assistant.registry.list_runs() == [] and "**Waiting for your yes:** Train" in again.text
