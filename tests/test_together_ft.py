"""Fine-tuning through Together AI's API, driven by the official `together` client against a loopback server
(tests/together_server.py). Every test runs with a canary API key; the server context's exit greps the whole
workspace (files, the SQLite database and its WAL) and the captured output for it."""

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
from together_server import together_api
from toy_data import make_reviews

from agent.assistant import Assistant
from agent.intents import parse_settings
from tools.context import ToolContext
from tools.hosted_tools import confirm_hosted_job
from tools.run_tools import start_training
from trainer.backends import runs
from trainer.backends.registry import get_backend, hosted_for
from trainer.backends.together import job as together_job
from trainer.backends.together.follow import follower_alive
from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from ui.render import MARKDOWN

ROOT = Path(__file__).resolve().parent.parent
CANARY = "tgp-canary-4b8d2f6a9c1e3057"


def _reviews(tmp_path: Path, n: int = 120) -> Path:
    path = tmp_path / "reviews.tsv"
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for t, y in make_reviews(n)), encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _ctx() -> ToolContext:
    return ToolContext.from_env(session_id="s1")


def _wait(ctx: ToolContext, run_id: int, statuses: tuple[str, ...], timeout: float = 40) -> dict[str, Any]:
    deadline, status = time.time() + timeout, {}
    while time.time() < deadline:
        status = runs.run_status(ctx.workspace, ctx.registry, run_id)
        if status["status"] in statuses:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} stayed {status.get('status')}")


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0, message


def test_a_message_naming_together_picks_it_and_everyday_words_do_not() -> None:
    together = get_backend("together")
    assert hosted_for("together", None) is together
    assert parse_settings("fine-tune this on together")["backend"] == "together"
    assert parse_settings("fine-tune this with Together AI, 2 epochs")["backend"] == "together"
    picked = parse_settings("fine-tune Qwen/Qwen2.5-7B-Instruct on together")
    assert picked["backend"] == "together" and picked["model"] == "Qwen/Qwen2.5-7B-Instruct"
    reference = parse_settings("fine-tune meta-llama/Meta-Llama-3.1-8B-Instruct-Reference on this")
    assert reference["backend"] == "together"
    assert "backend" not in parse_settings("train these two files together")
    assert "backend" not in parse_settings("fine-tune Qwen/Qwen2.5-7B-Instruct on this")  # a local run
    assert parse_settings("fine-tune gpt-4.1-mini on this")["backend"] == "openai"
    full = parse_settings("do a full fine-tune on together with learning rate 2e-5")
    assert full["backend"] == "together" and full["method"] == "full" and full["learning_rate"] == 2e-5


def test_the_plan_sends_nothing_and_prices_from_a_table_the_user_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with together_api(monkeypatch, offline_workspace, capfd, CANARY) as server:
        ctx = _ctx()
        name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
        plan = start_training(ctx, name, backend="together", epochs=2)
        assert plan["backend"] == "together" and plan["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
        assert plan["counts"] == {"train": 96, "validation": 12, "test": 12} and plan["upload_format"] == "conversation"
        hyper = plan["hyperparameters"]
        assert hyper == {
            "n_epochs": 2,
            "learning_rate": 1e-5,
            "batch_size": "max",
            "training_type": "lora",
            "n_evals": 2,
        }
        assert plan["billed_tokens"] > plan["train_tokens"] * 2  # two epochs, plus the validation file evaluated twice
        assert plan["estimated_cost_usd"] == round(plan["billed_tokens"] / 1e6 * 0.48, 2)
        assert plan["price_source"] == "built-in price table"
        (ctx.workspace.root / "together_prices.json").write_text(
            '{"meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": {"lora": 100, "full": 200}}', encoding="utf-8"
        )
        full = start_training(ctx, name, backend="together", method="full")
        assert full["price_per_million_tokens"] == 200 and "together_prices.json" in full["price_source"]
        assert "| training | full |" in MARKDOWN.hosted_plan(full) and "Together AI fine-tuning plan" in (
            MARKDOWN.hosted_plan(full)
        )

        instructions = _jsonl(
            tmp_path / "qa.jsonl", [{"prompt": f"What is {i} plus one?", "completion": f"{i + 1}."} for i in range(40)]
        )
        qa = start_training(ctx, ctx.workspace.import_file(instructions, session_id="s1").name, backend="together")
        assert qa["upload_format"] == "instruction" and qa["method"] == "supervised"
        first = read_jsonl(Path(qa["upload"]["train"]))[0]
        assert set(first) == {"prompt", "completion"}
        pairs = _jsonl(
            tmp_path / "pairs.jsonl",
            [{"prompt": f"Greet person {i}.", "chosen": f"Hello, person {i}!", "rejected": "No."} for i in range(30)],
        )
        dpo = start_training(ctx, ctx.workspace.import_file(pairs, session_id="s1").name, backend="together")
        assert dpo["method"] == "dpo" and dpo["training_method"] == "dpo" and dpo["upload_format"] == "preference"
        record = read_jsonl(Path(dpo["upload"]["train"]))[0]
        assert (
            record["preferred_output"][0]["role"] == "assistant"
            and record["non_preferred_output"][0]["content"] == "No."
        )
        assert server.requests == []  # nothing was sent at all before a yes


@pytest.mark.slow
def test_guided_chat_plan_go_follow_evaluate_then_a_second_job_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with together_api(monkeypatch, offline_workspace, capfd, CANARY) as server:
        assistant = Assistant(presenter=MARKDOWN)
        assistant.chat_model = None  # guided mode
        session = assistant.new_session()
        reply = assistant.reply(session, "fine-tune this on together", files=[_reviews(tmp_path)])
        assert "Together AI fine-tuning plan" in reply.text and "Estimated cost" in reply.text
        assert "Nothing has been uploaded" in reply.text and server.requests == []
        reply = assistant.reply(session, "use 2 epochs")
        assert "| epochs | 2 |" in reply.text and server.requests == []

        server.fail("POST", "/v1/files", 429, 500)  # the client's own retries
        reply = assistant.reply(session, "go")
        assert "created Together AI job" in reply.text, reply.text
        assert len(server.jobs) == 1
        job = next(iter(server.jobs.values()))
        assert job["n_epochs"] == 2 and job["suffix"].startswith("reviews-run") and job["validation_file"]
        assert job["training_type"]["type"] == "Lora" and job["training_method"]["method"] == "sft"
        ctx = assistant.context(session)
        run_id = ctx.registry.list_runs()[-1]["id"]
        final = _wait(ctx, run_id, ("succeeded", "failed"))
        assert final["status"] == "succeeded", final.get("error")
        run = ctx.registry.get_run(run_id)
        assert run["backend"] == "together" and run["metrics"]["fine_tuned_model"] == job["model_output_name"]
        run_dir = Path(final["run_dir"])
        assert [row["step"] for row in read_jsonl(run_dir / "metrics.jsonl")] == [1, 2, 3, 4]
        assert "Training started" in [event["message"] for event in read_jsonl(run_dir / "events.jsonl")]
        evaluation = read_json(run_dir / "evaluation.json")
        assert server.count("POST", "/v1/chat/completions") == evaluation["test_size"] == 12
        assert evaluation["accuracy"] >= 0.9 and run["metrics"]["accuracy"] == evaluation["accuracy"]
        reply = assistant.reply(session, "status")
        assert "Training started" in reply.text and "succeeded" in reply.text

        server.hold = True
        assistant.reply(session, "fine-tune this on together with 3 epochs")
        reply = assistant.reply(session, "go")
        assert "created Together AI job" in reply.text and len(server.jobs) == 2
        second = ctx.registry.list_runs()[-1]["id"]
        _wait(ctx, second, ("running",))
        reply = assistant.reply(session, "stop")
        assert "cancelled" in reply.text and ctx.registry.get_run(second)["status"] == "cancelled"
        assert [j["status"] for j in server.jobs.values()] == ["completed", "cancelled"]


@pytest.mark.slow
def test_a_lost_500_on_create_a_timeout_and_a_restart_leave_exactly_one_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with together_api(monkeypatch, offline_workspace, capfd, CANARY, slow_s=0.8) as server:
        server.hold = True
        ctx = _ctx()
        name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
        plan = start_training(ctx, name, backend="together")
        # A 500 before anything was made, then a create carried out but answered too late (the client gives up),
        # and a 429 on the jobs list: each of our tries looks for the job before creating one.
        server.fail("POST", "/v1/fine-tunes", 500, "timeout")
        server.fail("GET", "/v1/fine-tunes", 429)
        started = confirm_hosted_job(ctx)
        assert server.requests.count(("POST", "/v1/fine-tunes")) == 2 and server.create_calls == 1
        assert len(server.jobs) == 1
        assert started["job_id"] == next(iter(server.jobs))

        run_id = started["run_id"]
        _wait(ctx, run_id, ("running",))
        pid = int(ctx.registry.get_run(run_id)["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert "trainer.backends.together.follow" in cmdline and CANARY not in cmdline
        # tunechat and its follower die while the record says a create was under way without a job id.
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        run_dir = ctx.workspace.run_dir(run_id)
        record = together_job.read_record(run_dir)
        together_job.write_record(run_dir, dict(record, job_id=None, state="creating"))
        again = together_job.submit(ctx.workspace, ctx.registry, run_id)
        assert again["job_id"] == started["job_id"] and server.create_calls == 1 and len(server.jobs) == 1
        assert confirm_hosted_job(ctx, plan["plan_id"])["repeated"]  # a second yes makes nothing new

        status = runs.run_status(ctx.workspace, ctx.registry, run_id)  # a restarted tunechat looks: re-attached
        new_pid = int(ctx.registry.get_run(run_id)["pid"])
        assert new_pid != pid and follower_alive(new_pid) and status["status"] == "running"
        server.hold = False
        assert _wait(ctx, run_id, ("succeeded", "failed"))["status"] == "succeeded"
        assert len(server.jobs) == 1 and server.create_calls == 1


def test_refusals_are_one_sentence_and_a_failed_create_can_be_confirmed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with together_api(monkeypatch, offline_workspace, capfd, CANARY) as server:
        ctx = _ctx()
        name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
        monkeypatch.setenv("TOGETHER_API_KEY", "wrong-key")
        plan = start_training(ctx, name, backend="together")
        with pytest.raises(UserError) as caught:
            confirm_hosted_job(ctx, plan["plan_id"])
        assert "401" in str(caught.value) and "TOGETHER_API_KEY" in str(caught.value)
        _one_sentence(str(caught.value))
        monkeypatch.setenv("TOGETHER_API_KEY", CANARY)

        unknown = start_training(ctx, name, backend="together", model="unknown/model-1")
        assert any("not in tunechat's table" in note for note in unknown["notes"])
        assert unknown["estimated_cost_usd"] is None
        with pytest.raises(UserError) as caught:
            confirm_hosted_job(ctx, unknown["plan_id"])
        assert "404" in str(caught.value) and "model" in str(caught.value) and server.jobs == {}
        _one_sentence(str(caught.value))

        result = confirm_hosted_job(ctx, plan["plan_id"])  # the key is right now: the same run goes on
        assert result["run_id"] == together_job.load_plan(ctx.workspace, plan["plan_id"])["run_id"]
        assert len(server.jobs) == 1
        runs.stop_run(ctx.workspace, ctx.registry, result["run_id"])


@pytest.mark.slow
def test_cli_train_backend_together_refuses_without_yes_and_runs_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with together_api(monkeypatch, offline_workspace, capfd, CANARY) as server:
        data = _reviews(tmp_path, 80)
        command = [sys.executable, "-m", "ui.cli", "train", "--backend", "together", "--data", str(data)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        refused = subprocess.run(command, input="", capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        assert refused.returncode == 1 and "Nothing was uploaded" in refused.stderr and "--yes" in refused.stderr
        assert "Together AI fine-tuning plan" in refused.stderr and server.requests == []

        server.fail("POST", "/v1/fine-tunes", "lost")  # the job is made, but the answer is a 500
        done = subprocess.run(
            [*command, "--yes", "--json", "--epochs", "2"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["fine_tuned_model"].startswith("fake-user/") and result["accuracy"] >= 0.8
        assert server.create_calls == 1 and len(server.jobs) == 1  # found by the next try, not made again
        assert next(iter(server.jobs.values()))["n_epochs"] == 2
        assert "Together AI job" in done.stderr
        assert CANARY not in done.stdout + done.stderr + refused.stdout + refused.stderr
