"""Causal-LM fine-tuning end to end on a tiny Llama built in the tests: CLI runs (lora, full, freeze, dpo),
QLoRA refusal on CPU, the NaN guard, SIGKILL + resume, and the OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from toy_models import build_tiny_llm

from trainer.core.fileio import read_json, read_jsonl
from trainer.plan.hardware import detect_hardware, native_cpu_bf16
from ui.cli import main

FAST = ["--batch-size", "8", "--max-length", "64", "--json"]


def _train(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(["train", *args, *FAST])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _losses(run_dir: Path) -> list[float]:
    return [row["loss"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]


def _ws_run(result: dict) -> Path:
    return Path(os.environ["TUNECHAT_HOME"]) / "runs" / f"run-{result['run_id']}"


@pytest.mark.slow
def test_cli_lora_sft_learns_and_every_adapter_weight_changes(tiny_llm, chat_jsonl, capsys):
    result = _train(
        ["--data", str(chat_jsonl), "--model", str(tiny_llm), "--method", "lora", "--lr", "1e-2", "--epochs", "5"],
        capsys,
    )
    run_dir = _ws_run(result)
    assert result["task"] == "sft" and result["method"] == "lora"
    losses = _losses(run_dir)
    assert losses[-1] < losses[0] - 0.3, losses
    assert result["lora_tensors"]["count"] >= 14 and result["lora_tensors"]["unchanged"] == []
    # Independent of our bookkeeping: LoRA B starts at exactly zero, so a non-zero B means it trained.
    from safetensors.torch import load_file

    adapter = load_file(run_dir / "model" / "adapter_model.safetensors")
    b_tensors = [t for name, t in adapter.items() if "lora_B" in name]
    assert b_tensors and all(bool(t.abs().sum() > 0) for t in b_tensors)
    rows = read_jsonl(run_dir / "metrics.jsonl")
    logged = [r for r in rows if "loss" in r]
    assert all(r["grad_norm"] is not None and r["learning_rate"] is not None for r in logged)
    assert any(r.get("tokens_per_s") for r in logged) and logged[-1]["eta_s"] is not None
    assert any("perplexity" in r for r in rows)
    samples = read_json(run_dir / "samples.json")
    assert len(samples["before"]) == len(samples["after"]) == len(samples["prompts"]) > 0
    assert (run_dir / "command.sh").read_text().count("trainer.backends.worker") == 1
    hardware = read_json(run_dir / "hardware.json")
    # LoRA trains in bf16 on a CPU with native bf16 matmuls (avx512_bf16 or AMX), in fp32 on others.
    expected = "bfloat16" if native_cpu_bf16(detect_hardware()) else "float32"
    assert hardware["choice"]["dtype"] == expected and hardware["choice"]["attention"] == "sdpa"
    assert read_json(run_dir / "progress.json")["phase"] == "done"
    _check_openai_server(run_dir, f"tunechat-run-{result['run_id']}")


def _check_openai_server(run_dir: Path, model_id: str) -> None:
    """`tunechat serve` for the adapter run, called with the official openai client."""
    import openai

    from trainer.serve.chat import make_server

    server = make_server(run_dir, "127.0.0.1", 0, quiet=True).start()
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        assert [model.id for model in client.models.list()] == [model_id]
        messages = [{"role": "user", "content": "what color is the sky"}]
        reply = client.chat.completions.create(model=model_id, messages=messages, max_tokens=12)
        text = reply.choices[0].message.content
        assert isinstance(text, str) and text.strip() and reply.usage.completion_tokens > 0
        stream = client.chat.completions.create(model=model_id, messages=messages, max_tokens=12, stream=True)
        pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
        assert "".join(pieces) == text  # greedy decoding: streaming yields the same reply
    finally:
        server.stop()


@pytest.mark.slow
def test_cli_full_fine_tuning_lowers_the_loss(tiny_llm, chat_jsonl, capsys):
    result = _train(["--data", str(chat_jsonl), "--model", str(tiny_llm), "--method", "full", "--lr", "5e-3"], capsys)
    run_dir = _ws_run(result)
    losses = _losses(run_dir)
    assert losses[-1] < losses[0] - 0.5, losses
    assert (run_dir / "model" / "model.safetensors").is_file() and result["trainable_parameters"] > 40_000
    _check_deploy_serves_chat_completions(result["run_id"])


def _check_deploy_serves_chat_completions(run_id: int) -> None:
    """ "deploy run N" for a causal-LM run starts the OpenAI-compatible server in its own process."""
    import openai

    from tools.context import ToolContext
    from trainer.serve.deploy import deploy_run, list_deployments, stop_deployment

    ctx = ToolContext.from_env()
    deployment = deploy_run(ctx.workspace, ctx.registry, run_id)
    try:
        assert deployment["chat_url"].endswith("/v1/chat/completions") and "openai" in deployment["python"]
        client = openai.OpenAI(base_url=deployment["url"] + "/v1", api_key="unused")
        assert [m.id for m in client.models.list().data] == [f"tunechat-run-{run_id}"]
        reply = client.chat.completions.create(
            model=f"tunechat-run-{run_id}", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        assert reply.choices[0].message.role == "assistant" and reply.usage.completion_tokens >= 1
        assert [d["run_id"] for d in list_deployments(ctx.workspace, ctx.registry)] == [run_id]
    finally:
        stop_deployment(ctx.workspace, ctx.registry, run_id)
    assert list_deployments(ctx.workspace, ctx.registry) == []


@pytest.mark.slow
def test_freeze_keeps_the_embeddings_and_lower_layers_and_trains_the_rest(tiny_llm, chat_jsonl):
    from safetensors.torch import load_file

    from tools.context import ToolContext
    from trainer.backends import local
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.train import train_llm_run

    ctx = ToolContext.from_env()
    settings = {"data": str(chat_jsonl), "task": "sft", "method": "freeze", "model": str(tiny_llm)}
    config = resolve_config(settings, {"learning_rate": 5e-3, "batch_size": 8, "max_length": 64})
    run_id = local.create_run(ctx.workspace, ctx.registry, config)
    result = train_llm_run(ctx.workspace.run_dir(run_id), ctx.registry, run_id)
    assert result["metrics"]["final_loss"] < result["metrics"]["first_loss"] - 0.5
    base = load_file(tiny_llm / "model.safetensors")
    tuned = load_file(ctx.workspace.run_dir(run_id) / "model" / "model.safetensors")
    for frozen in ("model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight"):
        assert bool((base[frozen] == tuned[frozen]).all()), frozen
    for trained in ("model.layers.1.mlp.up_proj.weight", "lm_head.weight"):
        assert not bool((base[trained] == tuned[trained]).all()), trained


@pytest.mark.slow
def test_cli_dpo_on_pairs(tiny_llm, pairs_jsonl, capsys):
    result = _train(
        [
            "--data",
            str(pairs_jsonl),
            "--model",
            str(tiny_llm),
            "--task",
            "dpo",
            "--method",
            "lora",
            "--lr",
            "2e-2",
            "--epochs",
            "2",
        ],
        capsys,
    )
    losses = _losses(_ws_run(result))
    assert abs(losses[0] - 0.6931) < 0.01  # DPO starts at log(2): policy equals reference
    assert losses[-1] < losses[0] - 0.05, losses


def test_qlora_is_refused_on_cpu_with_the_alternative(tiny_llm, chat_jsonl, capsys):
    code = main(["train", "--data", str(chat_jsonl), "--model", str(tiny_llm), "--method", "qlora"])
    err = capsys.readouterr().err
    assert code == 1
    assert "QLoRA needs an NVIDIA GPU" in err and "--method lora" in err
    assert not list((Path(os.environ["TUNECHAT_HOME"]) / "runs").glob("run-*"))


@pytest.mark.slow
def test_nan_loss_stops_the_run_with_an_explanation(tmp_path, chat_jsonl):
    from tools.context import ToolContext
    from trainer.backends import local
    from trainer.core.errors import UserError
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.train import train_llm_run

    broken = build_tiny_llm(tmp_path / "nan-llm", nan_weights=True)
    ctx = ToolContext.from_env()
    config = resolve_config({"data": str(chat_jsonl), "task": "sft", "method": "full", "model": str(broken)})
    run_id = local.create_run(ctx.workspace, ctx.registry, config)
    with pytest.raises(UserError, match="became nan"):
        train_llm_run(ctx.workspace.run_dir(run_id), ctx.registry, run_id)
    run = ctx.registry.get_run(run_id)
    assert run["status"] == "failed" and "lower the learning rate" in run["error"]


@pytest.mark.slow
def test_sigkill_then_resume_continues_the_step_count(tiny_llm, chat_jsonl, capsys):
    from tools.context import ToolContext
    from tools.launch import launch_plan
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.checkpoints import MARKER, latest_complete

    ctx = ToolContext.from_env()
    config = resolve_config(
        {"data": str(chat_jsonl), "task": "sft", "method": "lora", "model": str(tiny_llm), "max_steps": 20},
        # The forgetting check (tested in test_forgetting.py) would only delay the first checkpoint waited for.
        {"save_steps": 3, "batch_size": 2, "max_length": 64, "learning_rate": 1e-2, "forgetting_check": False},
    )
    started = launch_plan(ctx, config.to_dict())
    run_id, pid = started["run_id"], started["pid"]
    run_dir = ctx.workspace.run_dir(run_id)
    deadline = time.monotonic() + 60
    while latest_complete(run_dir / "checkpoints") is None:
        assert time.monotonic() < deadline, (run_dir / "train.log").read_text()[-2000:]
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    killed_at = latest_complete(run_dir / "checkpoints")
    assert killed_at is not None and killed_at[0] < 20

    code = main(["resume", str(run_id), "--json"])
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    log = (run_dir / "train.log").read_text()
    resumed_from = int(log.split("resuming from step ")[1].split()[0])
    assert resumed_from >= killed_at[0]
    steps = [row["step"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert steps == sorted(steps) and steps[-1] == 20 and len(set(steps)) == len(steps)
    final = latest_complete(run_dir / "checkpoints")
    assert final is not None and final[0] == 20 and (final[1] / MARKER).is_file()
    assert ctx.registry.get_run(run_id)["status"] == "succeeded"


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_marks_the_run_interrupted(tiny_llm, chat_jsonl):
    from tools.context import ToolContext
    from trainer.backends import local
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.checkpoints import latest_complete
    from trainer.tasks.causal_lm.train import train_llm_run

    ctx = ToolContext.from_env()
    config = resolve_config(
        {"data": str(chat_jsonl), "task": "sft", "method": "lora", "model": str(tiny_llm)},
        {"max_steps": 400, "save_steps": 1000, "batch_size": 2, "max_length": 64, "forgetting_check": False},
    )
    run_id = local.create_run(ctx.workspace, ctx.registry, config)
    run_dir = ctx.workspace.run_dir(run_id)

    def send_sigterm_once_training() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (run_dir / "metrics.jsonl").is_file():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.02)

    threading.Thread(target=send_sigterm_once_training, daemon=True).start()
    result = train_llm_run(run_dir, ctx.registry, run_id)
    assert result["status"] == "cancelled" and result["interrupted"] and 0 < result["step"] < 400
    saved = latest_complete(run_dir / "checkpoints")
    assert saved is not None and saved[0] == result["step"]  # saved on the way out, not at save_steps
    run = ctx.registry.get_run(run_id)
    assert run["status"] == "cancelled" and f"tunechat resume {run_id}" in run["error"]
    assert read_json(run_dir / "progress.json")["phase"] == "interrupted"
