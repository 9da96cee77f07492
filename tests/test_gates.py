"""What a chat may do without the user's yes: change only some settings of an earlier run, through the same
checks as everywhere; stop only its own runs; start no more runs than the machine trains at once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.diagnose_tools import relaunch_run
from tools.history_tools import plan_like_run
from tools.pending import pending_action
from trainer.backends import local, runs
from trainer.backends.capacity import MAX_RUNS_ENV, max_local_runs
from trainer.core.errors import UserError
from trainer.plan.config import resolve_config
from ui.render import MARKDOWN

OUT_OF_MEMORY = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"


def failed_run(ctx: ToolContext, data_file: Path) -> int:
    data = ctx.workspace.import_file(data_file, session_id=ctx.session_id)
    run_id = local.create_run(ctx.workspace, ctx.registry, resolve_config({"data": str(data)}), ctx.session_id)
    ctx.registry.update_run(run_id, status="failed", error=OUT_OF_MEMORY)
    return run_id


@pytest.mark.parametrize("tool", [plan_like_run, relaunch_run])
def test_changes_to_an_earlier_run_pass_the_same_checks_as_a_new_plan(
    tool: Any, reviews_tsv: Path, tmp_path: Path
) -> None:
    ctx = ToolContext.from_env(session_id="chat")
    run_id = failed_run(ctx, reviews_tsv)
    elsewhere = tmp_path / "model"
    elsewhere.mkdir()
    other_chat = ToolContext.from_env(session_id="other").workspace.import_file(reviews_tsv, session_id="other")
    refused = [
        ({"data": "/etc/passwd"}, "outside the tunechat workspace"),
        ({"data": "../../../etc/passwd"}, "outside the tunechat workspace"),
        ({"data": str(other_chat)}, "each chat sees only the files dropped into it"),
        ({"model": str(elsewhere)}, "is outside the tunechat workspace; copy the model folder"),
        ({"trust_remote_code": True}, "The chat cannot turn on trust_remote_code"),
        ({"task": "sft"}, "The task of an earlier run cannot be changed here"),
        ({"backend": "openai"}, "The backend of an earlier run cannot be changed here"),
        ({"not_a_setting": 1}, "'not_a_setting' is not a run setting"),
    ]
    for changes, words in refused:
        with pytest.raises(UserError, match=words):
            tool(ctx, run_id, changes)
        assert pending_action(ctx) is None, changes  # nothing was stored for a yes to start

    plan = tool(ctx, run_id, {"epochs": 2, "lr": 1e-4})
    config = pending_action(ctx)["arguments"]["config"]
    assert plan["needs_confirmation"] and ctx.registry.list_runs()[-1]["id"] == run_id
    assert config["epochs"] == 2 and config["learning_rate"] == 1e-4 and config["trust_remote_code"] is False
    assert Path(config["data"]).is_relative_to(ctx.workspace.uploads_for("chat"))


def test_max_runs_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv(MAX_RUNS_ENV, raising=False)
    assert max_local_runs() == 1  # no GPU: one run at a time
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert max_local_runs() == 3  # one per GPU
    monkeypatch.setenv(MAX_RUNS_ENV, "2")
    assert max_local_runs() == 2
    monkeypatch.setenv(MAX_RUNS_ENV, "zero")
    with pytest.raises(UserError, match="TUNECHAT_MAX_RUNS='zero' is not a whole number of at least 1"):
        max_local_runs()


def test_one_run_trains_at_a_time_and_a_chat_stops_another_chats_run_only_on_yes(
    reviews_tsv: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the CPU default, whatever this machine has
    assistant = Assistant(presenter=MARKDOWN)
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    first, second = assistant.new_session(), assistant.new_session()
    for chat in (first, second):
        assistant.reply(chat, "here is my data", files=[reviews_tsv])
        assistant.reply(chat, "fine-tune a classifier on this, use model tiny, use 300 epochs")
    run_id = assistant.reply(first, "go").steps[-1].result["run_id"]

    busy = assistant.reply(second, "go")
    assert busy.text.startswith(f"Run {run_id} is training and this machine trains one run at a time;")
    assert "The plan keeps waiting.\n\n**Waiting for your yes:** Train" in busy.text
    assert len(assistant.registry.list_runs()) == 1
    assert pending_action(assistant.context(second), "train") is not None  # "go" later starts it unchanged

    asked = assistant.reply(second, f"stop run {run_id}")
    assert "started by another chat; nothing is stopped yet" in asked.text and "Waiting for your yes" in asked.text
    assert assistant.registry.get_run(run_id)["status"] in ("queued", "running")
    stopped = assistant.reply(second, "yes")
    assert [step.name for step in stopped.steps] == ["confirm_stop_run"]
    assert assistant.registry.get_run(run_id)["status"] == "cancelled"

    assistant.reply(second, "fine-tune a classifier on this, use model tiny, use 1 epochs")
    started = assistant.reply(second, "go").steps[-1].result["run_id"]
    assert started != run_id and assistant.registry.get_run(started)["session_id"] == second
    own = assistant.reply(second, "stop")  # a chat stops its own run at once
    assert [step.name for step in own.steps] == ["stop_run"] and own.steps[0].result["id"] == started
    assert runs.run_status(assistant.workspace, assistant.registry, started)["status"] in ("cancelled", "succeeded")


def test_a_model_in_one_chat_never_reads_another_chats_id(reviews_tsv: Path) -> None:
    from scripted_model import ScriptedChatModel, say, tool_call

    model = ScriptedChatModel()
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    first, second = assistant.new_session(), assistant.new_session()
    run_id = failed_run(assistant.context(first), reviews_tsv)  # an upload path names its chat: uploads/<id>/
    assert first in assistant.registry.get_run(run_id)["config"]["data"]

    model.add(tool_call("list_runs"), tool_call("run_status", run_id=run_id), tool_call("find_runs"), say("ok"))
    reply = assistant.reply(second, "what runs are there?")
    assert [step.name for step in reply.steps] == ["list_runs", "run_status", "find_runs"]
    read = [str(message.content) for message in model.received[-1]]
    assert [text for text in read if first in text] == [] and "uploads/(another chat)/reviews.tsv" in read[-1 - 2]
