"""On a machine with a GPU, deploying a chat run hands it to vLLM or Ollama with the exact commands (never run
here: the GPU machine is described to the code); on a CPU machine deploy keeps proposing tunechat's own server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.context import ToolContext
from tools.pending import pending_action
from tools.run_tools import deploy_run
from trainer.plan.config import RunConfig
from trainer.plan.hardware import Hardware
from trainer.serve import handoff
from ui.render import MARKDOWN

BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
A100 = Hardware(device="cuda", gpus=[{"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 79.2, "bf16": True}], cpu_count=32)
CPU = Hardware(device="cpu", cpu_count=2)


def _safetensors(path: Path, names: list[str]) -> None:
    """A safetensors file holding one zero float per name (only its header matters here)."""
    header: dict[str, Any] = {}
    for index, name in enumerate(names):
        header[name] = {"dtype": "F32", "shape": [1], "data_offsets": [4 * index, 4 * index + 4]}
    encoded = json.dumps(header).encode()
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + b"\0" * 4 * len(names))


def _chat_run(run_dir: Path, kind: str = "adapter", rank: int = 8, embeddings: bool = False) -> Path:
    """A succeeded sft run's folder as training leaves it (the weights are stand-ins)."""
    model = run_dir / "model"
    model.mkdir(parents=True)
    (model / "tunechat.json").write_text(json.dumps({"kind": kind, "base_model": BASE, "task": "sft"}))
    (model / "chat_template.jinja").write_text("{{ messages }}")
    (model / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 7]}))
    if kind == "adapter":
        (model / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
        names = ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
        if embeddings:  # what PEFT saves when training grew the tokenizer
            names.append("base_model.model.model.embed_tokens.weight")
        _safetensors(model / "adapter_model.safetensors", names)
    else:
        (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    RunConfig(task="sft", method="lora" if kind == "adapter" else "full", model=BASE).save(run_dir / "config.json")
    return run_dir


def test_a_lora_run_goes_to_vllm_as_its_base_model_with_the_adapter(tmp_path: Path) -> None:
    run = _chat_run(tmp_path / "run-3", rank=32)
    model = run / "model"
    (vllm,) = handoff.handoffs(run, 3, 8001)
    assert vllm.command == (
        f"vllm serve {BASE} --enable-lora --lora-modules run-3={model} --max-lora-rank 32 "
        f"--chat-template {model}/chat_template.jinja --generation-config {model} --host 127.0.0.1 --port 8001"
    )
    assert (vllm.tool, vllm.url, vllm.model) == ("vLLM", "http://127.0.0.1:8001/v1", "run-3")
    # vLLM's default maximum rank (16) takes a rank-8 adapter without being told.
    small = _chat_run(tmp_path / "run-4", rank=8)
    assert "--max-lora-rank" not in handoff.handoffs(small, 4, 8001)[0].command


def test_a_merged_export_a_full_run_and_a_gguf_export_each_get_their_command(tmp_path: Path) -> None:
    run = _chat_run(tmp_path / "run-3")
    merged = run / "export" / "merged"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}")
    (merged / "manifest.json").write_text("{}")
    modelfile = run / "export" / "gguf" / "Modelfile"
    modelfile.parent.mkdir(parents=True)
    modelfile.write_text("FROM ./model-q8_0.gguf\n")
    vllm, ollama = handoff.handoffs(run, 3, 8000)
    assert vllm.command == f"vllm serve {merged} --served-model-name run-3 --host 127.0.0.1 --port 8000"
    assert ollama.command == f"ollama create run-3 -f {modelfile}"
    assert (ollama.url, ollama.model) == ("http://127.0.0.1:11434/v1", "run-3")

    full = _chat_run(tmp_path / "with space" / "run-5", kind="full")
    (only,) = handoff.handoffs(full, 5, 8000)
    quoted = "'" + str(full / "model") + "'"  # a path with a space stays one argument
    assert only.command == f"vllm serve {quoted} --served-model-name run-5 --host 127.0.0.1 --port 8000"


def test_an_adapter_with_new_embeddings_is_merged_before_vllm_serves_it(tmp_path: Path) -> None:
    run = _chat_run(tmp_path / "run-3", embeddings=True)
    (vllm,) = handoff.handoffs(run, 3, 8000)
    assert vllm.command == (
        "tunechat export 3 --format merged && "
        f"vllm serve {run / 'export' / 'merged'} --served-model-name run-3 --host 127.0.0.1 --port 8000"
    )
    assert "vLLM cannot load as a LoRA" in vllm.why


def _registered(ctx: ToolContext, task: str, kind: str) -> int:
    run_id = ctx.registry.create_run(RunConfig(task=task, model=BASE).to_dict())
    run_dir = ctx.workspace.run_dir(run_id)
    if task == "sft":
        _chat_run(run_dir, kind=kind)
    else:
        (run_dir / "model").mkdir(parents=True)
        (run_dir / "model" / "config.json").write_text("{}")
        RunConfig(task=task).save(run_dir / "config.json")
    ctx.registry.update_run(run_id, status="succeeded", run_dir=str(run_dir))
    return run_id


def test_deploy_on_a_gpu_machine_hands_a_chat_run_over_and_waits_for_nothing(
    monkeypatch: pytest.MonkeyPatch, offline_workspace: Path
) -> None:
    monkeypatch.setattr(handoff, "machine", lambda: A100)
    ctx = ToolContext.from_env(session_id="s1")
    run_id = _registered(ctx, "sft", "adapter")
    result = deploy_run(ctx, run_id=run_id, port=8011)
    assert result["needs_confirmation"] is False and pending_action(ctx) is None
    assert result["hardware"] == "1 GPU (NVIDIA A100-SXM4-80GB, 79.2 GB)"
    (vllm,) = result["handoff"]
    assert vllm["command"].startswith(f"vllm serve {BASE} --enable-lora --lora-modules run-{run_id}=")
    assert vllm["command"].endswith("--host 127.0.0.1 --port 8011")
    shown = MARKDOWN.deployment(result)
    assert f"```\n{vllm['command']}\n```" in shown and "tunechat does not start them" in shown
    assert f"`tunechat serve {run_id} --port 8011`" in shown and "`http://127.0.0.1:8011/v1`" in shown


def test_deploy_on_a_cpu_machine_or_of_a_classifier_still_proposes_tunechats_own_server(
    monkeypatch: pytest.MonkeyPatch, offline_workspace: Path
) -> None:
    ctx = ToolContext.from_env(session_id="s1")
    chat_run = _registered(ctx, "sft", "full")
    monkeypatch.setattr(handoff, "machine", lambda: CPU)
    assert deploy_run(ctx, run_id=chat_run, port=8012)["needs_confirmation"] is True
    classifier = _registered(ctx, "text-classification", "full")
    monkeypatch.setattr(handoff, "machine", lambda: A100)
    assert deploy_run(ctx, run_id=classifier, port=8013)["needs_confirmation"] is True
    assert handoff.gpu_summary(CPU) is None
