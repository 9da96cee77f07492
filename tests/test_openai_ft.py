"""Fine-tuning through the OpenAI API, driven by the official client against a loopback fake API.

Every test runs with a canary API key; the fixture's teardown greps the whole workspace (files, the
SQLite database and its WAL) and the captured output for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fake_openai_ft import FakeFineTuning
from hosted_runs import CANARY
from scripted_model import ScriptedChatModel, say, tool_call
from toy_data import make_reviews

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.hosted_tools import confirm_hosted_job
from tools.launch import launch_plan
from tools.registry import TOOLS_BY_NAME
from tools.run_tools import compare_runs, start_training
from trainer.backends import runs
from trainer.backends.openai import job as ft_job
from trainer.backends.openai.follow import follower_alive
from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from ui.render import MARKDOWN
from ui.render.hosted import render_hosted_plan

ROOT = Path(__file__).resolve().parent.parent


def _reviews(tmp_path: Path, n: int = 120) -> Path:
    path = tmp_path / "reviews.tsv"
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for t, y in make_reviews(n)), encoding="utf-8")
    return path


def _ctx(session: str = "s1") -> ToolContext:
    return ToolContext.from_env(session_id=session)


def _wait(ctx: ToolContext, run_id: int, statuses: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = runs.run_status(ctx.workspace, ctx.registry, run_id)
        if status["status"] in statuses:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} stayed {status['status']}")


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".")
    assert message.count(". ") == 0, message  # one sentence (a ';' joins what is wrong and what to do)


@pytest.mark.slow
def test_plan_then_confirm_upload_create_follow_evaluate_and_compare(
    fake: FakeFineTuning, tmp_path: Path, tiny_bert: Path
) -> None:
    ctx = _ctx()
    name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name

    plan = start_training(ctx, name, model="gpt-4.1-mini")
    assert plan["confirmation_required"] and plan["method"] == "supervised" and plan["task"] == "text-classification"
    assert plan["counts"] == {"train": 96, "validation": 12, "test": 12}
    assert plan["hyperparameters"] == {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert plan["estimated_cost_usd"] == round(plan["train_tokens"] * 3 / 1e6 * 5.0, 2)  # auto -> 3 epochs, $5/1M
    assert fake.requests == []  # nothing uploaded (nothing sent at all) before the confirmation
    (ctx.workspace.root / "openai_prices.json").write_text('{"gpt-4.1-mini": 1000}', encoding="utf-8")
    priced = start_training(ctx, name, model="gpt-4.1-mini")
    assert priced["price_per_million_tokens"] == 1000 and "openai_prices.json" in priced["price_source"]
    train_lines = read_jsonl(Path(plan["files"]["train"]))
    assert train_lines[0]["messages"][0]["content"].endswith("neg, pos.")
    assert train_lines[0]["messages"][-1]["content"] in ("neg", "pos")

    # Transient failures are retried by the client itself: a 429 and a 500 on the uploads, and a create
    # whose answer comes too late (the job is made, the client retries with the same idempotency key).
    fake.fail("POST", "/v1/files", 429, 500)
    fake.fail("POST", "/v1/fine_tuning/jobs", "timeout")
    started = confirm_hosted_job(ctx)
    assert fake.count("POST", "/v1/files") == 4  # 2 files + 2 retries
    assert fake.create_calls == 2 and len(fake.jobs) == 1  # retried, still one job
    job = fake.jobs[started["job_id"]]
    assert job["method"]["type"] == "supervised" and job["validation_file"] and job["suffix"] == "reviews"
    assert json.loads(fake.files[job["training_file"]]["content"].decode().splitlines()[0])["messages"]

    final = _wait(ctx, started["run_id"], ("succeeded", "failed", "cancelled"))
    assert final["status"] == "succeeded", final.get("error")
    run_dir = Path(final["run_dir"])
    metrics = ctx.registry.get_run(started["run_id"])["metrics"]
    assert (
        metrics["fine_tuned_model"].startswith("ft:gpt-4.1-mini:")
        and metrics["fine_tuned_model"] == job["fine_tuned_model"]
    )
    events = [e["message"] for e in read_jsonl(run_dir / "events.jsonl")]
    assert "Fine-tuning job started" in events and events[-1] == "The job has successfully completed"
    log = read_jsonl(run_dir / "metrics.jsonl")
    assert [row["step"] for row in log] == [1, 2, 3, 4]
    assert log[-1]["loss"] < log[0]["loss"] and log[-1]["eval_loss"] < log[0]["eval_loss"]
    assert log[-1]["train_mean_token_accuracy"] > log[0]["train_mean_token_accuracy"]
    assert "valid_mean_token_accuracy" in log[-1]
    assert [c["step_number"] for c in read_json(run_dir / "checkpoints.json")] == [4, 2]

    # Evaluation called the fine-tuned model once per held-out test example.
    evaluation = read_json(run_dir / "evaluation.json")
    assert fake.count("POST", "/v1/chat/completions") == evaluation["test_size"] == 12
    assert evaluation["accuracy"] >= 0.9 and evaluation["baseline"]["accuracy"] == 0.5
    assert metrics["accuracy"] == evaluation["accuracy"] and Path(evaluation["confusion_matrix_png"]).is_file()

    # A local run on the same file holds out the same test rows and compares like any other run.
    local_plan = dict(plan["config"], backend="local", model=str(tiny_bert), epochs=1, batch_size=16, max_length=16)
    for key in ("suffix", "n_epochs", "openai_batch_size", "learning_rate_multiplier"):
        local_plan.pop(key)
    local = launch_plan(ctx, local_plan)
    assert _wait(ctx, local["run_id"], ("succeeded", "failed"), timeout=90)["status"] == "succeeded"
    local_dir = ctx.workspace.run_dir(local["run_id"])
    assert read_jsonl(local_dir / "splits" / "test.jsonl") == read_jsonl(run_dir / "splits" / "test.jsonl")
    comparison = compare_runs(ctx, [started["run_id"], local["run_id"]])
    rows = {row["metric"]: row["values"] for row in comparison["metric_rows"]}
    assert rows["accuracy"][0] == evaluation["accuracy"] and rows["accuracy"][1] is not None
    assert rows["final_loss"][0] == log[-1]["loss"]
    backend_row = next(row for row in comparison["config_rows"] if row["field"] == "backend")
    assert backend_row["values"] == ["openai", "local"] and backend_row["differs"]
    assert comparison["held_out"][0] == comparison["held_out"][1] and comparison["held_out"][0]["size"] == 12


def test_preference_pairs_make_a_dpo_job(fake: FakeFineTuning, tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": f"Say something kind about topic {i}.", "chosen": f"Topic {i} is lovely.", "rejected": "No."}
        for i in range(30)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    ctx = _ctx()
    name = ctx.workspace.import_file(path, session_id=ctx.session_id).name
    plan = start_training(ctx, name, backend="openai", model="gpt-4.1-mini", epochs=2)
    assert plan["method"] == "dpo" and plan["hyperparameters"]["n_epochs"] == 2 and fake.requests == []
    result = ft_job.confirm_plan(ctx.workspace, ctx.registry, plan["plan_id"], follow=False)
    job = fake.jobs[result["job_id"]]
    assert job["method"]["type"] == "dpo" and job["hyperparameters"]["n_epochs"] == 2
    first = json.loads(fake.files[job["training_file"]]["content"].decode().splitlines()[0])
    assert first["input"]["messages"][-1]["role"] == "user"
    assert first["preferred_output"][0]["role"] == "assistant" and first["non_preferred_output"][0]["content"] == "No."


def test_the_plan_says_what_its_method_does(fake: FakeFineTuning, tmp_path: Path) -> None:
    ctx = _ctx()
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Greet person {i}.", "chosen": f"Hello, person {i}!", "rejected": "No."} for i in range(30)]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    for path, method, reason in (
        (_reviews(tmp_path), "supervised", "supervised fine-tuning on chat examples"),
        (pairs, "dpo", "DPO on preference pairs"),
    ):
        name = ctx.workspace.import_file(path, session_id=ctx.session_id).name
        plan = start_training(ctx, name, backend="openai", model="gpt-4.1-mini")
        assert plan["method"] == method and plan["method_reason"] == reason
        assert f"| method | {method} | {reason} |" in render_hosted_plan(plan)
    assert fake.requests == []


def test_format_problems_are_found_before_anything_is_sent(fake: FakeFineTuning, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "anyone?"}]}
    path.write_text("".join(json.dumps(r) + "\n" for r in [good] * 20 + [bad]), encoding="utf-8")
    ctx = _ctx()
    with pytest.raises(UserError) as caught:
        start_training(ctx, ctx.workspace.import_file(path, session_id=ctx.session_id).name, model="gpt-4.1-mini")
    assert "no assistant message" in str(caught.value) and fake.requests == []
    _one_sentence(str(caught.value))


@pytest.mark.slow
def test_401_and_400_are_explained_in_one_sentence(fake: FakeFineTuning, tmp_path: Path) -> None:
    ctx = _ctx()
    name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
    plan = start_training(ctx, name, model="gpt-4.1-mini")

    fake.fail("POST", "/v1/files", 401)
    with pytest.raises(UserError) as caught:
        confirm_hosted_job(ctx, plan["plan_id"])
    message = str(caught.value)
    assert "401" in message and "OPENAI_API_KEY" in message and CANARY not in message
    _one_sentence(message)
    run_id = ft_job.load_plan(ctx.workspace, plan["plan_id"])["run_id"]
    assert ctx.registry.get_run(run_id)["status"] == "failed" and fake.jobs == {}

    fake.fail("POST", "/v1/files", 400)
    with pytest.raises(UserError) as caught:
        confirm_hosted_job(ctx, plan["plan_id"])
    message = str(caught.value)
    assert "400" in message and "could not be parsed" in message and "fix the file" in message
    _one_sentence(message)

    # Saying yes again once the problem is gone goes on with the same run: one run, one job.
    result = confirm_hosted_job(ctx, plan["plan_id"])
    assert result["run_id"] == run_id and len(fake.jobs) == 1 and len(ctx.registry.list_runs()) == 1
    _wait(ctx, run_id, ("succeeded",))


@pytest.mark.slow
def test_restart_reattaches_and_never_creates_a_second_job(fake: FakeFineTuning, tmp_path: Path) -> None:
    fake.hold = True  # the job keeps running until released
    ctx = _ctx()
    name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
    plan = start_training(ctx, name, model="gpt-4.1-mini")
    started = confirm_hosted_job(ctx)
    run_id = started["run_id"]
    _wait(ctx, run_id, ("running",))
    pid = int(ctx.registry.get_run(run_id)["pid"])
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert "trainer.backends.openai.follow" in cmdline and CANARY not in cmdline  # the key goes by environment only

    # tunechat (and its follower) die; the record claims a create was under way without a job id.
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    run_dir = ctx.workspace.run_dir(run_id)
    record = ft_job.read_record(run_dir)
    ft_job.write_record(run_dir, dict(record, job_id=None, state="creating"))
    creates = fake.create_calls

    again = ft_job.submit(ctx.workspace, ctx.registry, run_id)  # finds the job by its metadata
    assert again["job_id"] == started["job_id"] and fake.create_calls == creates and len(fake.jobs) == 1
    assert confirm_hosted_job(ctx, plan["plan_id"])["repeated"]  # a second "yes" makes nothing new
    assert fake.create_calls == creates

    status = runs.run_status(ctx.workspace, ctx.registry, run_id)  # a restarted tunechat looks: re-attached
    new_pid = int(ctx.registry.get_run(run_id)["pid"])
    assert new_pid != pid and follower_alive(new_pid) and status["status"] == "running"
    fake.hold = False
    final = _wait(ctx, run_id, ("succeeded", "failed"))
    assert final["status"] == "succeeded" and len(fake.jobs) == 1
    assert "follower" in (run_dir / "follow.log").read_text()


def test_guided_chat_plan_go_status_stop(fake: FakeFineTuning, tmp_path: Path) -> None:
    fake.hold = True
    assistant = Assistant(presenter=MARKDOWN)
    assistant.chat_model = None  # guided mode, with the key set for fine-tuning
    session = assistant.new_session()
    reply = assistant.reply(session, "fine-tune gpt-4.1-mini on this", files=[_reviews(tmp_path)])
    assert "OpenAI fine-tuning plan" in reply.text and "Estimated cost" in reply.text
    assert "Nothing has been uploaded" in reply.text and fake.requests == []

    reply = assistant.reply(session, "use 2 epochs")
    assert "| epochs | 2 |" in reply.text.replace("2.0", "2") and fake.requests == []

    reply = assistant.reply(session, "go")
    assert "created OpenAI job" in reply.text
    job_id = next(iter(fake.jobs))
    assert fake.jobs[job_id]["hyperparameters"]["n_epochs"] == 2
    ctx = assistant.context(session)
    run_id = ctx.registry.list_runs()[-1]["id"]
    _wait(ctx, run_id, ("running",))
    time.sleep(0.5)
    reply = assistant.reply(session, "status")
    assert "Fine-tuning job started" in reply.text and "training loss" in reply.text

    reply = assistant.reply(session, "stop")
    assert "cancelled" in reply.text and fake.jobs[job_id]["status"] == "cancelled"
    assert ctx.registry.get_run(run_id)["status"] == "cancelled"
    assert len(fake.jobs) == 1


def test_llm_mode_cannot_confirm_the_job_itself(fake: FakeFineTuning, tmp_path: Path) -> None:
    assert "confirm_hosted_job" not in TOOLS_BY_NAME
    model = ScriptedChatModel().add(
        tool_call("start_training", file="reviews.tsv", model="gpt-4.1-mini"),
        say("Here is the plan; it costs about $0.06. Say go to start."),
    )
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    session = assistant.new_session()
    assistant.reply(session, "fine-tune gpt-4.1-mini on my reviews", files=[_reviews(tmp_path)])
    assert fake.requests == []  # the tool planned, nothing was uploaded
    reply = assistant.reply(session, "yes")  # handled in code, the model is not asked
    assert "created OpenAI job" in reply.text and len(fake.jobs) == 1


@pytest.mark.slow
def test_cli_refuses_without_confirmation_and_runs_with_yes(fake: FakeFineTuning, tmp_path: Path) -> None:
    data = _reviews(tmp_path, 60)
    command = [sys.executable, "-m", "ui.cli", "train", "--backend", "openai", "--data", str(data)]
    command += ["--model", "gpt-4.1-mini"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    refused = subprocess.run(command, input="", capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert refused.returncode == 1 and "Nothing was uploaded" in refused.stderr and "--yes" in refused.stderr
    assert "Estimated cost" in refused.stderr and fake.requests == []

    done = subprocess.run([*command, "--yes", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["fine_tuned_model"].startswith("ft:gpt-4.1-mini") and result["accuracy"] >= 0.8
    assert CANARY not in done.stdout + done.stderr + refused.stderr
