"""Diagnosis and relaunch of failed runs: real training processes that really run out of memory or diverge,
a multi-turn conversation through the LLM path (scripted tool-calling model), and the relaunch started only
by the user's own yes, which then succeeds.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from drivers import Driver, ScriptedDriver, ServerDriver
from openai_server import FakeOpenAI
from polling import wait_for_status
from toy_data import FILLER, NEGATIVE, POSITIVE, make_reviews

from agent.assistant import Assistant
from trainer.backends import local
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, read_json, read_jsonl
from trainer.evaluate.diagnosis import diagnose_run, parse_size, plan_oom
from trainer.plan.config import resolve_config
from ui.render import MARKDOWN

LONG_WORDS = 8190  # with [CLS] and [SEP]: exactly the 8192 positions of the wide model


def long_reviews_tsv(folder: Path) -> Path:
    """60 short reviews plus 4 very long ones: the batch that holds them (batches group similar lengths) is padded
    to 8192 tokens and runs out of memory."""
    rng = random.Random(1)
    rows = [(text, label) for text, label in make_reviews(60)]
    for i in range(4):
        label = "pos" if i % 2 == 0 else "neg"
        filler = [rng.choice(FILLER) for _ in range(LONG_WORDS - 1)]
        rows.append((" ".join([rng.choice(POSITIVE if label == "pos" else NEGATIVE), *filler]), label))
    path = folder / "long-reviews.tsv"
    path.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in rows), encoding="utf-8")
    return path


def start_run(assistant: Assistant, session: str, config: dict[str, Any]) -> int:
    run_config = resolve_config(config)
    run_id = local.create_run(assistant.workspace, assistant.registry, run_config, session_id=session)
    local.launch(assistant.workspace, assistant.registry, run_id)
    return run_id


def wait(assistant: Assistant, run_id: int, timeout_s: float = 120) -> dict[str, Any]:
    return wait_for_status(assistant.workspace, assistant.registry, run_id, timeout_s)


def converse_diagnose_and_relaunch(assistant: Assistant, driver: Driver, session: str, run_id: int) -> Any:
    """why did it fail -> diagnose_run; fix it -> relaunch_run (nothing starts); yes -> the new run starts."""
    driver.call("diagnose_run", run_id=run_id)
    driver.answer(lambda result: f"Cause: {result['cause']}. Evidence: {result['evidence']}")
    reply = assistant.reply(session, f"why did run {run_id} fail?")
    diagnosis = reply.steps[0].result
    assert reply.steps[0].name == "diagnose_run" and reply.steps[0].ok
    assert reply.text.startswith(f"Cause: {diagnosis['cause']}. Evidence: ")

    driver.call("relaunch_run", run_id=run_id)
    driver.answer(lambda result: f"Plan: {result['plan']}. Say yes.")
    reply = assistant.reply(session, "fix it")
    plan = reply.steps[0].result
    assert plan["needs_confirmation"] and plan["arguments"]["from_run"] == run_id
    assert "Waiting for your yes" in reply.text  # code states the plan, whatever the model says
    assert [r["id"] for r in assistant.registry.list_runs()] == [run_id]  # nothing started yet

    asked = driver.requests()
    reply = assistant.reply(session, "yes")  # handled by code (agent/confirmations.py), not by the model
    started = reply.steps[0].result
    assert reply.steps[0].name == "confirm_relaunch" and started["replaces"] == run_id
    assert driver.pending() == 0 and driver.requests() == asked  # the model was not asked about the yes
    new_id = int(started["run_id"])
    assert new_id != run_id and f"run {new_id}" in reply.text.lower()
    record = read_json(assistant.workspace.run_dir(new_id) / "relaunch.json")
    assert record["replaces"] == run_id and record["cause"] == diagnosis["cause"]
    return diagnosis, plan, new_id


@pytest.mark.slow
def test_out_of_memory_run_is_diagnosed_and_relaunched_on_yes(wide_bert: Path, tmp_path: Path) -> None:
    # This conversation goes over HTTP: the real ChatOpenAI against the loopback chat-completions server.
    with FakeOpenAI() as server:
        check_out_of_memory_run(ServerDriver(server), wide_bert, tmp_path)


def check_out_of_memory_run(driver: Driver, wide_bert: Path, tmp_path: Path) -> None:
    assistant = Assistant(chat_model=driver.model, presenter=MARKDOWN)
    session = assistant.new_session()
    data = assistant.workspace.import_file(long_reviews_tsv(tmp_path))
    config = {
        "data": str(data),
        "model": str(wide_bert),
        "epochs": 1,
        "batch_size": 8,
        "max_length": 8192,
        "attention": "eager",
        "learning_rate": 1e-3,
    }
    run_id = start_run(assistant, session, config)
    failed = wait(assistant, run_id)
    assert failed["status"] == "failed"
    assert "ran out of memory" in failed["error"] and "GiB" in failed["error"]

    diagnosis, plan, new_id = converse_diagnose_and_relaunch(assistant, driver, session, run_id)
    assert diagnosis["cause"] == "out_of_memory"
    tried = parse_size(diagnosis["evidence"])
    memory = diagnosis["memory"]
    # The real allocation torch refused: the texts of the long batch x 256 heads x 8192 x 8192 float32 scores.
    texts, rest = divmod(tried, 256 * 8192 * 8192 * 4)
    assert rest == 0 and 1 <= texts <= 8 and tried == memory["tried_bytes"]
    assert memory["available_bytes"] < tried
    changes = diagnosis["changes"]
    factor = memory["reduction_factor"]
    assert factor >= tried * 8 / memory["available_bytes"]  # sized from the ratio, with headroom
    assert changes["batch_size"] == 1 and changes["gradient_accumulation_steps"] == 8  # same effective batch
    assert changes["max_length"] == 8192 // (factor // 8) and changes["gradient_checkpointing"] == "on"
    assert set(diagnosis["reasons"]) == set(changes) and "8 examples per optimizer step" in str(diagnosis["reasons"])
    assert plan["arguments"]["config"]["batch_size"] == 1 and "batch_size 8 → 1" in plan["plan"]

    done = wait(assistant, new_id)
    assert done["status"] == "succeeded", done["error"]
    new_config = assistant.registry.get_run(new_id)["config"]
    assert new_config["gradient_accumulation_steps"] == 8 and new_config["max_length"] == changes["max_length"]
    losses = [row["loss"] for row in read_jsonl(assistant.workspace.run_dir(new_id) / "metrics.jsonl") if "loss" in row]
    assert losses and all(math.isfinite(loss) for loss in losses)


@pytest.mark.slow
def test_nan_run_is_diagnosed_and_relaunched_with_a_lower_learning_rate(tiny_bert: Path, reviews_tsv: Path) -> None:
    driver = ScriptedDriver()  # the in-process scripted chat model (the OOM test goes over HTTP)
    assistant = Assistant(chat_model=driver.model, presenter=MARKDOWN)
    session = assistant.new_session()
    data = assistant.workspace.import_file(reviews_tsv)
    # lr 0.9 with weight_decay 10: AdamW's decay factor 1 - lr x 10 stays below -1 while the (linearly decaying)
    # lr is above 0.2, so the weights flip and grow every step until they overflow (real training, no NaN planted).
    config = {
        "data": str(data),
        "model": str(tiny_bert),
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 0.9,
        "weight_decay": 10.0,
    }
    run_id = start_run(assistant, session, config)
    failed = wait(assistant, run_id)
    assert failed["status"] == "failed" and "became nan" in failed["error"].lower(), failed["error"]
    rows = read_jsonl(assistant.workspace.run_dir(run_id) / "metrics.jsonl")
    losses = [r["loss"] for r in rows if "loss" in r]
    # Finite first, then blown up: a divergence. Whether the loss or the gradient norm turns NaN first depends on
    # the step the overflow lands on, so the last logged loss is NaN or already huge.
    assert math.isfinite(losses[0])
    assert not math.isfinite(losses[-1]) or losses[-1] > 1000 * losses[0], losses

    diagnosis, plan, new_id = converse_diagnose_and_relaunch(assistant, driver, session, run_id)
    assert diagnosis["cause"] == "nan_loss" and diagnosis["can_relaunch"]
    assert diagnosis["changes"]["learning_rate"] == pytest.approx(0.09)
    assert diagnosis["changes"]["weight_decay"] == 0.01  # 0.09 x 10 would still shrink weights 90% a step
    assert "clipping" in diagnosis["reasons"]["learning_rate"] and "warmup" in diagnosis["reasons"]["learning_rate"]
    assert "became nan" in diagnosis["evidence"].lower()

    done = wait(assistant, new_id)
    assert done["status"] == "succeeded", done["error"]
    losses = [row["loss"] for row in read_jsonl(assistant.workspace.run_dir(new_id) / "metrics.jsonl") if "loss" in row]
    assert losses and all(math.isfinite(loss) for loss in losses)


# ---- classification of recorded failures (the failure is in the record itself) ---------------------------


def recorded_run(assistant: Assistant, reviews_tsv: Path, status: str, error: str, **extra: Any) -> int:
    data = assistant.workspace.import_file(reviews_tsv)
    config = resolve_config({"data": str(data), **extra.pop("config", {})})
    run_id = local.create_run(assistant.workspace, assistant.registry, config, session_id=extra.pop("session", None))
    assistant.registry.update_run(run_id, status=status, error=error)
    run_dir = assistant.workspace.run_dir(run_id)
    if "progress" in extra:
        atomic_write_json(run_dir / "progress.json", extra["progress"])
    if "log" in extra:
        (run_dir / "train.log").write_text(extra["log"], encoding="utf-8")
    return run_id


def test_data_format_error_points_at_the_column_and_is_not_relaunched(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    error = "There is no column 'review' in 'reviews.tsv'; its columns are: label, text."
    run_id = recorded_run(assistant, reviews_tsv, "failed", error)
    diagnosis = diagnose_run(assistant.workspace, assistant.registry, run_id)
    assert diagnosis["cause"] == "data_format" and diagnosis["column"] == "review"
    assert diagnosis["evidence"] == error and not diagnosis["can_relaunch"] and diagnosis["changes"] == {}
    assert "prepare_data" in diagnosis["explanation"] and "'review'" in diagnosis["explanation"]


def test_missing_dependency_names_the_package_and_the_pip_command(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    log = "[tunechat] loading\nTraceback (most recent call last):\nModuleNotFoundError: No module named 'sklearn'\n"
    run_id = recorded_run(
        assistant,
        reviews_tsv,
        "failed",
        "Training failed with ModuleNotFoundError: No module named 'sklearn'.",
        log=log,
        progress={"phase": "failed", "error_type": "ModuleNotFoundError", "error_detail": "No module named 'sklearn'"},
    )
    diagnosis = diagnose_run(assistant.workspace, assistant.registry, run_id)
    assert diagnosis["cause"] == "missing_dependency" and diagnosis["package"] == "scikit-learn"
    assert diagnosis["pip_command"] == "pip install scikit-learn" and not diagnosis["can_relaunch"]
    assert "No module named 'sklearn'" in diagnosis["evidence"]


def test_cancelled_openai_job_relaunches_as_a_new_plan(reviews_tsv: Path) -> None:
    from tools.diagnose_tools import relaunch_run
    from tools.pending import pending_action

    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    data = assistant.workspace.import_file(reviews_tsv, session_id=session)
    config = resolve_config({"data": str(data), "backend": "openai", "model": "gpt-4.1-mini"})
    run_id = assistant.registry.create_run(config.to_dict(), session_id=session, backend="openai")
    assistant.registry.update_run(run_id, status="cancelled", error="Cancelled on request.")
    diagnosis = diagnose_run(assistant.workspace, assistant.registry, run_id)
    assert diagnosis["cause"] == "openai_cancelled" and diagnosis["can_relaunch"]
    assert "new plan" in diagnosis["explanation"] and diagnosis["changes"] == {}
    # The relaunch is a new job plan (uploads nothing); the user's "go" to it starts the job.
    plan = relaunch_run(assistant.context(session), run_id)
    assert plan["relaunch_of"] == run_id and plan["model"] == "gpt-4.1-mini"
    assert pending_action(assistant.context(session), "hosted_job")["arguments"]["plan_id"] == plan["plan_id"]
    assert [run["id"] for run in assistant.registry.list_runs()] == [run_id]
    other = assistant.new_session()
    with pytest.raises(UserError, match="another chat"):
        relaunch_run(assistant.context(other), run_id)

    assistant.registry.update_run(run_id, status="failed", error="The OpenAI job ftjob-1 failed (invalid_file: bad).")
    failed = diagnose_run(assistant.workspace, assistant.registry, run_id)
    assert failed["cause"] == "openai_failed" and "invalid_file" in failed["explanation"]


def test_killed_run_is_interrupted_and_a_running_run_is_not_diagnosed(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    killed = recorded_run(
        assistant,
        reviews_tsv,
        "failed",
        "The training process ended without recording a result (its log ends: step 3); see train.log.",
    )
    diagnosis = diagnose_run(assistant.workspace, assistant.registry, killed)
    assert diagnosis["cause"] == "interrupted" and diagnosis["can_relaunch"] and diagnosis["changes"] == {}
    running = recorded_run(assistant, reviews_tsv, "running", "")
    with pytest.raises(UserError, match="has not failed"):
        diagnose_run(assistant.workspace, assistant.registry, running)


def test_oom_plan_for_a_causal_lm_adds_lora_and_halves_without_figures() -> None:
    config = resolve_config({"data": "x.jsonl", "task": "sft", "method": "full", "batch_size": 4, "max_length": 1024})
    changes, reasons, figures = plan_oom(config, None, None, "cpu")
    assert changes == {
        "batch_size": 2,
        "gradient_accumulation_steps": 2,
        "gradient_checkpointing": "on",
        "method": "lora",
    }
    assert set(reasons) == set(changes) and figures["reduction_factor"] == 2
    # On a GPU, 4-bit QLoRA; 16 GiB tried with 16 GiB there: 8x smaller, the batch of 4 covers 4x, length 2x.
    changes, _, figures = plan_oom(config, 16 * 2**30, 16 * 2**30, "cuda")
    assert changes["batch_size"] == 1 and changes["gradient_accumulation_steps"] == 4
    assert changes["max_length"] == 512 and changes["method"] == "qlora" and figures["reduction_factor"] == 8


def test_guided_mode_explains_a_failure_and_plans_the_fix_without_starting_it(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)  # no chat model: guided mode
    session = assistant.new_session()
    run_id = recorded_run(
        assistant,
        reviews_tsv,
        "failed",
        "The training loss became nan at step 6, so the run was stopped; lower the learning rate (e.g. by 10x).",
        session=session,
        config={"learning_rate": 0.5, "warmup_ratio": 0.0},
    )
    rows = [{"step": 1, "loss": 0.7}, {"step": 3, "loss": 3.5}, {"step": 6, "loss": float("nan")}]
    (assistant.workspace.run_dir(run_id) / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    reply = assistant.reply(session, "why did it fail?")
    assert [step.name for step in reply.steps] == ["diagnose_run"]
    assert f"Run {run_id} failed: nan loss" in reply.text and "became nan at step 6" in reply.text
    assert "| learning_rate | 0.5 | 0.05 |" in reply.text and "there was no warmup" in reply.text
    assert "fix it" in reply.text

    reply = assistant.reply(session, "fix it")
    assert "relaunch_run" in [step.name for step in reply.steps]
    assert "Waiting for your yes" in reply.text and "learning_rate 0.5 → 0.05" in reply.text
    assert "warmup_ratio 0.0 → 0.1" in reply.text
    reply = assistant.reply(session, "no")
    assert "nothing was done" in reply.text
    assert [run["id"] for run in assistant.registry.list_runs()] == [run_id]


def test_nan_at_the_first_step_blames_the_weights_not_the_learning_rate(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    error = "The training loss became nan at step 1, so the run was stopped; lower the learning rate (e.g. by 10x)."
    run_id = recorded_run(assistant, reviews_tsv, "failed", error)  # the LLM guard stops before logging it
    diagnosis = diagnose_run(assistant.workspace, assistant.registry, run_id)
    assert diagnosis["cause"] == "nan_loss" and not diagnosis["can_relaunch"] and diagnosis["changes"] == {}
    assert "before the first update" in diagnosis["explanation"]
