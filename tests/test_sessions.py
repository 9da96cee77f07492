"""Memory and sessions: chats do not see each other's files, a chat continues after a restart,
and "the run that crashed", "the best run", "same as last time but 3 epochs" resolve against the run history.

Real parts throughout: real SQLite, real tool calls through the real agent loop (a scripted tool-calling model
stands in for the LLM), real training subprocesses (tiny BERT, tiny Llama).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from drivers import Driver, ScriptedDriver, ServerDriver
from openai_server import FakeOpenAI
from polling import wait_for_status
from scripted_model import ScriptedChatModel, last_tool_result, say, tool_call
from toy_data import make_reviews

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.history_tools import find_runs
from trainer.backends import local, runs
from trainer.core.fileio import read_json, read_jsonl
from trainer.plan.config import resolve_config
from ui.render import MARKDOWN


def result_of(messages: list) -> Any:
    content = last_tool_result(messages).content
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


def wait_finished(assistant: Assistant, run_id: int, timeout: float = 90) -> dict[str, Any]:
    return wait_for_status(assistant.workspace, assistant.registry, run_id, timeout)


def with_tiny_model(assistant: Assistant, tiny_bert: Path) -> Assistant:
    if not (assistant.workspace.models / "tiny").exists():
        shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    return assistant


# ---- session isolation ------------------------------------------------------------------------------------


def test_two_chats_do_not_see_each_others_files(reviews_tsv: Path, tmp_path: Path) -> None:
    guided = Assistant(presenter=MARKDOWN)  # chat A, guided mode
    chat_a = guided.new_session()
    reply = guided.reply(chat_a, "inspect this", files=[reviews_tsv])
    assert "120" in reply.text and [s.name for s in reply.steps] == ["inspect_data"]
    a_upload = guided.workspace.uploads_for(chat_a) / "reviews.tsv"
    assert a_upload.is_file()
    reply = guided.reply(chat_a, "clean it up")  # a prepared dataset: chat A's too
    data_file = reply.steps[0].result["data_file"]
    assert data_file.startswith("datasets/") and (guided.workspace.root / data_file).is_file()

    # Chat B: a second Assistant object (LLM mode) on the same workspace tries every way to A's files.
    a_relative = a_upload.relative_to(guided.workspace.root).as_posix()
    shown: list[Any] = []

    def note_then(message):
        def step(messages):
            shown.append(result_of(messages))
            return message

        return step

    model = ScriptedChatModel().add(
        tool_call("list_files"),
        note_then(tool_call("inspect_data", file="reviews.tsv")),
        note_then(tool_call("inspect_data", file=a_relative)),
        note_then(tool_call("inspect_data", file=str(a_upload))),
        note_then(tool_call("inspect_data", file=data_file)),
        note_then(tool_call("start_training", file="reviews.tsv", epochs=1)),
        note_then(tool_call("propose_plan", file=data_file)),
        note_then(say("I cannot see that file here.")),
    )
    llm = Assistant(chat_model=model, presenter=MARKDOWN)
    chat_b = llm.new_session()
    reply = llm.reply(chat_b, "train on reviews.tsv")
    assert reply.text == "I cannot see that file here."
    assert shown[0] == {"files": []}
    refusals = shown[1:]
    names = ["reviews.tsv", a_relative, str(a_upload), data_file, "reviews.tsv", data_file]
    for name, refusal in zip(names, refusals, strict=True):
        shown_name = name.replace(f"uploads/{chat_a}/", "uploads/(another chat)/")  # chat A's id never reaches B
        assert refusal.startswith(f"Error: There is no file '{shown_name}' in this chat;"), refusal
        assert "upload the file here" in refusal and refusal.count(". ") == 0  # one sentence
    assert [s.ok for s in reply.steps] == [True] + [False] * 6
    assert llm.registry.list_runs() == []

    # B drops its own file of the same name: B sees its 40 rows, A still its 120.
    mine = tmp_path / "b" / "reviews.tsv"
    mine.parent.mkdir()
    mine.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in make_reviews(40)))
    model.add(tool_call("inspect_data", file="reviews.tsv"), lambda m: say(f"{result_of(m)['rows']} rows"))
    assert llm.reply(chat_b, "and this one?", files=[mine]).text == "40 rows"
    assert (llm.workspace.uploads_for(chat_b) / "reviews.tsv").read_bytes() == mine.read_bytes()
    model.add(tool_call("list_files"), lambda m: say(json.dumps(result_of(m))))
    listed = json.loads(llm.reply(chat_b, "what files do I have?").text)
    assert [f["name"] for f in listed["files"]] == ["reviews.tsv"] and "datasets" not in listed

    # A, through another Assistant object, still has its upload and dataset and can plan on them.
    again = Assistant(presenter=MARKDOWN)
    reply = again.reply(chat_a, "inspect")
    assert "120" in reply.text
    ctx_a = again.context(chat_a)
    from tools.data_tools import list_files, propose_plan

    files = list_files(ctx_a)
    assert [f["name"] for f in files["files"]] == ["reviews.tsv"]
    assert [d["data_file"] for d in files["datasets"]] == [data_file]
    assert propose_plan(ctx_a, data_file)["config"]["data"] == str((again.workspace.root / data_file).resolve())
    # The command line (no chat) keeps working on uploads/ and any workspace path, as before.
    cli = ToolContext.from_env()
    assert cli.workspace.import_file(reviews_tsv).parent == cli.workspace.uploads
    assert list_files(cli)["files"][0]["name"] == "reviews.tsv"


def test_a_chat_cannot_escape_the_workspace_or_read_other_folders(reviews_tsv: Path) -> None:
    from tools.data_tools import inspect_data
    from trainer.core.errors import UserError

    assistant = Assistant(presenter=MARKDOWN)
    chat = assistant.new_session()
    assistant.reply(chat, "", files=[reviews_tsv])
    ctx = assistant.context(chat)
    assert inspect_data(ctx, "reviews.tsv")["rows"] == 120
    with pytest.raises(UserError, match="outside the tunechat workspace"):
        inspect_data(ctx, "../../etc/passwd")
    (assistant.workspace.models / "notes.csv").write_text("text,label\na,b\n")
    with pytest.raises(UserError, match="There is no file 'models/notes.csv' in this chat"):
        inspect_data(ctx, "models/notes.csv")
    with pytest.raises(UserError, match="There is no file 'nope.tsv' in the workspace"):
        inspect_data(ctx, "nope.tsv")


def test_a_chat_from_before_per_chat_uploads_keeps_its_files(reviews_tsv: Path) -> None:
    """Chats saved before uploads were kept per chat name files in uploads/ itself: they still work there."""
    from tools.data_tools import inspect_data, list_files
    from trainer.core.errors import UserError

    assistant = Assistant(presenter=MARKDOWN)
    shutil.copyfile(reviews_tsv, assistant.workspace.uploads / "old.tsv")
    assistant.sessions.save_session_state("old-chat", {"files": ["old.tsv"], "active_file": "old.tsv"})
    old = assistant.context("old-chat")
    assert [f["name"] for f in list_files(old)["files"]] == ["old.tsv"]
    assert inspect_data(old, "old.tsv")["rows"] == 120
    assert "120" in assistant.reply("old-chat", "inspect").text
    with pytest.raises(UserError, match="There is no file 'old.tsv' in this chat"):
        inspect_data(assistant.context("new-chat"), "old.tsv")
    # A chat's own upload wins over a command-line upload of the same name, which it never lists.
    assistant.reply("new-chat", "", files=[reviews_tsv])
    shutil.copyfile(reviews_tsv, assistant.workspace.uploads / "reviews.tsv")
    assert [f["name"] for f in list_files(assistant.context("new-chat"))["files"]] == ["reviews.tsv"]
    assert inspect_data(assistant.context("new-chat"), "reviews.tsv")["rows"] == 120


# ---- restart persistence ----------------------------------------------------------------------------------


def test_guided_chat_continues_after_a_restart(reviews_tsv: Path, tiny_bert: Path) -> None:
    first = with_tiny_model(Assistant(presenter=MARKDOWN), tiny_bert)
    chat = first.new_session()
    first.reply(chat, "", files=[reviews_tsv])
    reply = first.reply(chat, "use model tiny and 2 epochs")
    plan = reply.steps[0].result
    assert reply.steps[0].name == "propose_plan" and plan["config"]["epochs"] == 2
    del first

    # A new process: a fresh Assistant on the same workspace. "go" starts the plan made before the restart.
    second = Assistant(presenter=MARKDOWN)
    assert [m["role"] for m in second.history(chat)] == ["user", "assistant"] * 2
    reply = second.reply(chat, "go")
    run_id = reply.steps[0].result["run_id"]
    run = second.registry.get_run(run_id)
    assert run["session_id"] == chat
    assert {k: run["config"][k] for k in ("data", "model", "epochs")} == {
        k: plan["config"][k] for k in ("data", "model", "epochs")
    }
    assert Path(run["config"]["data"]).parent == second.workspace.uploads_for(chat)

    # Another restart: "stop" finds this chat's running run in the database.
    reply = Assistant(presenter=MARKDOWN).reply(chat, "stop")
    assert [(s.name, s.ok) for s in reply.steps] == [("stop_run", True)] and reply.steps[0].result["id"] == run_id
    assert second.registry.get_run(run_id)["status"] == "cancelled"


@pytest.mark.parametrize("path", ["scripted", "http"])
def test_llm_chat_continues_after_a_restart(path: str, reviews_tsv: Path, tiny_bert: Path) -> None:
    with FakeOpenAI() as server:
        # Each phase gets a new chat-model object and a new Assistant: a restart of the app, same workspace.
        def new_driver() -> Driver:
            return ScriptedDriver() if path == "scripted" else ServerDriver(server)

        driver = new_driver()
        driver.call("inspect_data", file="reviews.tsv")
        driver.answer(lambda result: f"{result['rows']} rows.")
        driver.call("start_training", file="reviews.tsv", model="tiny", epochs=1)
        driver.answer(lambda result: f"Plan: {result['config']['epochs']:g} epoch. Shall I start?")
        first = with_tiny_model(Assistant(chat_model=driver.model, presenter=MARKDOWN), tiny_bert)
        chat = first.new_session()
        assert first.reply(chat, "here is my data", files=[reviews_tsv]).text == "120 rows."
        planned = first.reply(chat, "plan a run").text
        assert planned.startswith("Plan: 1 epoch. Shall I start?\n\n**Waiting for your yes:** Train")

        # Restart: the plan waited in the database, and the user's yes starts it (tunechat's code, not the model).
        second = Assistant(chat_model=new_driver().model, presenter=MARKDOWN)
        reply = second.reply(chat, "yes")
        assert [step.name for step in reply.steps] == ["confirm_train"]
        run_id = reply.steps[0].result["run_id"]
        assert second.registry.get_run(run_id)["session_id"] == chat
        assert second.registry.get_run(run_id)["config"]["epochs"] == 1
        runs.stop_run(second.workspace, second.registry, run_id, grace_s=5)

        driver = new_driver()
        asked = driver.requests()
        driver.say("ok")
        Assistant(chat_model=driver.model, presenter=MARKDOWN).reply(chat, "what runs do I have?")
        (role, prompt), *history = driver.sent(asked)
        assert role == "system" and "Files uploaded in this chat: reviews.tsv" in prompt
        assert f"run {run_id} (cancelled)" in prompt
        # The model's memory holds the tool calls and their results too (an empty assistant message is a call).
        results = [text for role, text in history if role == "tool"]
        assert len(results) == 2 and '"rows": 120' in results[0] and '"epochs": 1' in results[1]
        talk = [(role, text) for role, text in history if role != "tool" and (role, text) != ("assistant", "")]
        assert [(role, text.split("\n")[0]) for role, text in talk] == [
            ("user", "here is my data"),
            ("assistant", "120 rows."),
            ("user", "plan a run"),
            ("assistant", "Plan: 1 epoch. Shall I start?"),
            ("user", "yes"),
            ("assistant", reply.text.split("\n")[0]),
            ("user", "what runs do I have?"),
        ]


# ---- run-history references ---------------------------------------------------------------------------------


def test_best_run_is_chosen_by_the_tasks_metric() -> None:
    ctx = ToolContext.from_env("chat")
    registry = ctx.registry

    def record(task: str, status: str, metrics: dict[str, float] | None, session: str | None = "chat") -> int:
        config = {"task": task, "model": "m", "data": "d.csv"}
        run_id = registry.create_run(config, session_id=session)
        registry.update_run(run_id, status=status, metrics=metrics)
        return run_id

    low = record("text-classification", "succeeded", {"macro_f1": 0.61})
    high = record("text-classification", "succeeded", {"macro_f1": 0.93}, session="other-chat")
    record("text-classification", "failed", None)
    record("text-classification", "succeeded", {"accuracy": 0.99})  # no macro-F1 recorded: not ranked
    best = find_runs(ctx, "best")
    assert best["run_id"] == high and best["metric"] == "macro_f1" and best["scope"] == "all chats"
    assert [(r["id"], r["macro_f1"]) for r in best["runs"]] == [(high, 0.93), (low, 0.61)]

    # The newest scored run decides the kind; sft/dpo are ranked by the lowest eval loss.
    worse = record("sft", "succeeded", {"eval_loss": 2.5})
    better = record("dpo", "succeeded", {"eval_loss": 0.7})
    best = find_runs(ctx, "best")
    assert best["run_id"] == better and best["metric"] == "eval_loss"
    assert [r["id"] for r in best["runs"]] == [better, worse]

    failed = find_runs(ctx, "crashed")
    assert failed["scope"] == "this chat" and [r["status"] for r in failed["runs"]] == ["failed"]
    assert find_runs(ctx, "latest")["run_id"] == better
    with pytest.raises(Exception, match="No run has running|No run is training"):
        find_runs(ctx, "running")


@pytest.mark.slow
def test_same_as_last_time_best_run_and_restart_in_guided_mode(tmp_path: Path, tiny_bert: Path) -> None:
    data = tmp_path / "reviews.tsv"
    data.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in make_reviews(40)))
    assistant = with_tiny_model(Assistant(presenter=MARKDOWN), tiny_bert)
    chat = assistant.new_session()
    assistant.reply(chat, "", files=[data])
    assistant.reply(chat, "use model tiny, 1 epoch and learning rate 1e-2")
    first = assistant.reply(chat, "go").steps[0].result["run_id"]
    assert wait_finished(assistant, first)["status"] == "succeeded"

    # "same as last time but 3 epochs": the last run's settings with one change, waiting for a yes.
    reply = assistant.reply(chat, "same as last time but 3 epochs")
    assert [s.name for s in reply.steps] == ["plan_like_run"]
    assert f"like **run {first}**" in reply.text and "epochs 1 → 3" in reply.text
    assert "Waiting for your yes" in reply.text and assistant.registry.list_runs()[-1]["id"] == first
    reply = assistant.reply(chat, "yes")
    second = reply.steps[0].result["run_id"]
    old, new = (assistant.registry.get_run(run_id)["config"] for run_id in (first, second))
    assert new["epochs"] == 3 and {k: v for k, v in new.items() if k != "epochs"} == {
        k: v for k, v in old.items() if k != "epochs"
    }
    assert f"Started run {second} like run {first}" in reply.text
    assert assistant.registry.get_run(second)["session_id"] == chat
    assert assistant.reply(chat, "stop").steps[0].result["status"] == "cancelled"

    # "deploy the best one": the succeeded run with the highest test macro-F1, proposed (it waits for a yes).
    reply = assistant.reply(chat, "deploy the best one")
    assert [s.name for s in reply.steps] == ["find_runs", "deploy_run"]
    assert reply.steps[0].result["run_id"] == first and reply.steps[0].result["metric"] == "macro_f1"
    assert f"The best run is **run {first}** (highest test macro-F1" in reply.text
    assert f"Deploy run {first}" in reply.text and "Waiting for your yes" in reply.text
    assert "Dropped" in assistant.reply(chat, "no").text

    # "retry run N" for the stopped classifier: it cannot continue, so a restart from the beginning is proposed.
    reply = assistant.reply(chat, f"retry run {second}")
    assert [s.name for s in reply.steps] == ["resume_run"]
    assert "cannot continue where it stopped" in reply.text and "from the beginning" in reply.text
    assert f"like run {second}" in reply.text and "Waiting for your yes" in reply.text
    assert "nothing was done" in assistant.reply(chat, "no").text
    assert [run["id"] for run in assistant.registry.list_runs()] == [first, second]


@pytest.mark.slow
def test_resume_the_run_that_crashed_through_the_llm(tiny_llm: Path, chat_jsonl: Path) -> None:
    from trainer.tasks.causal_lm.checkpoints import latest_complete

    model = ScriptedChatModel()
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    chat = assistant.new_session()
    ctx = assistant.context(chat)
    config = resolve_config(
        {"data": str(chat_jsonl), "task": "sft", "method": "lora", "model": str(tiny_llm), "max_steps": 8},
        {"save_steps": 2, "batch_size": 2, "max_length": 64, "learning_rate": 1e-2},
    )
    run_id = local.create_run(ctx.workspace, ctx.registry, config, session_id=chat)
    pid = local.launch(ctx.workspace, ctx.registry, run_id)
    run_dir = ctx.workspace.run_dir(run_id)
    deadline = time.monotonic() + 60
    while latest_complete(run_dir / "checkpoints") is None:
        assert time.monotonic() < deadline, (run_dir / "train.log").read_text()[-2000:]
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # a crash: the worker records nothing
    os.waitpid(pid, 0)
    killed_at = latest_complete(run_dir / "checkpoints")
    assert killed_at is not None and killed_at[0] < 8
    assert ctx.registry.get_run(run_id)["status"] == "running"  # the registry does not know yet

    model.add(
        tool_call("find_runs", which="crashed"),
        lambda m: tool_call("resume_run", run_id=result_of(m)["run_id"]),
        lambda m: say(result_of(m)["message"]),
    )
    reply = assistant.reply(chat, "resume the run that crashed")
    found = reply.steps[0].result
    assert found["run_id"] == run_id and found["scope"] == "this chat" and found["runs"][0]["status"] == "failed"
    assert "ended without recording a result" in found["runs"][0]["error"]
    assert reply.text.startswith(f"Run {run_id} can continue from its checkpoint at step {killed_at[0]}")
    assert ctx.registry.get_run(run_id)["status"] == "failed"  # nothing resumed before the user's yes
    reply = assistant.reply(chat, "yes")
    assert [step.name for step in reply.steps] == ["confirm_resume"]
    assert reply.text.startswith(f"Resumed **run {run_id}** from its checkpoint at step {killed_at[0]}")
    assert wait_finished(assistant, run_id)["status"] == "succeeded"
    log = (run_dir / "train.log").read_text()
    assert int(log.split("resuming from step ")[1].split()[0]) >= killed_at[0]
    steps = [row["step"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert steps == sorted(steps) and steps[-1] == 8 and len(set(steps)) == len(steps)
    assert read_json(run_dir / "progress.json")["phase"] == "done"


def test_over_http_a_chat_cannot_reach_another_chats_upload(reviews_tsv: Path) -> None:
    guided = Assistant(presenter=MARKDOWN)
    chat_a = guided.new_session()
    guided.reply(chat_a, "inspect this", files=[reviews_tsv])
    a_upload = guided.workspace.uploads_for(chat_a) / "reviews.tsv"
    with FakeOpenAI() as server:
        driver = ServerDriver(server)
        driver.call("inspect_data", file="reviews.tsv")
        driver.call("inspect_data", file=str(a_upload))
        driver.answer(lambda result: f"Tool said: {result}")
        chat_b = Assistant(chat_model=driver.model, presenter=MARKDOWN)
        reply = chat_b.reply(chat_b.new_session(), "inspect reviews.tsv")
        tool_results = [content for role, content in driver.sent(2) if role == "tool"]
    assert [step.ok for step in reply.steps] == [False, False]
    for result in tool_results:
        assert result.startswith("Error: There is no file") and "in this chat" in result
    # Not the other chat's 120 rows; the workspace's own path (pytest's numbered temp folder) may hold any digits.
    assert "120" not in reply.text.replace(str(guided.workspace.root), "") and a_upload.is_file()
