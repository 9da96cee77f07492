"""A LoRA run is served with its adapter merged into the base once at load (answers equal to the adapter's own,
token for token), in float32 on a CPU, and with the run's merged export instead when one is there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from http_probe import COMPLETIONS, post

from trainer.serve import chat
from trainer.tasks.causal_lm.generate import ChatModel, Sampling

PROMPTS = [
    [{"role": "user", "content": "what color is the sky"}],
    [{"role": "system", "content": "answer briefly"}, {"role": "user", "content": "who are you"}],
]


def _lora_run(tiny_llm: Path, run_dir: Path) -> tuple[Any, Any]:
    """Run 6's folder as training leaves a LoRA run, its adapter far from zero so it changes the answers; the
    adapter model (unmerged) and its tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.plan.config import RunConfig
    from trainer.tasks.causal_lm.train import _save_model

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    base = AutoModelForCausalLM.from_pretrained(tiny_llm, use_safetensors=True)
    torch.manual_seed(0)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    adapter = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, parameter in adapter.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.3)
    run_dir.mkdir(parents=True)
    config = RunConfig(task="sft", method="lora", model=str(tiny_llm))
    config.save(run_dir / "config.json")
    _save_model(adapter, tokenizer, run_dir, config)
    return adapter.eval(), tokenizer


def _answers(chat_model: ChatModel) -> list[str]:
    return [chat_model.complete(p, Sampling(max_new_tokens=10))["choices"][0]["message"]["content"] for p in PROMPTS]


@pytest.mark.slow
def test_the_served_lora_run_is_merged_once_and_answers_like_its_adapter(tiny_llm: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-6"
    adapter, tokenizer = _lora_run(tiny_llm, run_dir)
    with_adapter = _answers(ChatModel(adapter, tokenizer, "adapter"))
    served = ChatModel.from_run(run_dir)
    # One plain model: no adapter layer is left to run per token.
    assert type(served.model).__name__ == "LlamaForCausalLM"
    assert not any("lora_" in name for name, _ in served.model.named_parameters())
    assert served.weights == "the LoRA adapter merged into its base model"
    assert _answers(served) == with_adapter
    with adapter.disable_adapter():
        base = _answers(ChatModel(adapter, tokenizer, "base"))
    assert base != with_adapter  # the adapter matters, so the equality above says something
    # And over HTTP, through the server a deployment starts.
    with chat.make_server(run_dir, "127.0.0.1", 0, quiet=True) as server:
        answer = post(server.url, COMPLETIONS, {"messages": PROMPTS[0], "max_tokens": 10}).json()
    assert answer["choices"][0]["message"]["content"] == with_adapter[0]


@pytest.mark.slow
def test_a_cpu_server_computes_in_float32_whatever_the_run_trained_in(tiny_llm: Path, tmp_path: Path) -> None:
    """float32 like the parity check's reference and the merged export, so the served answers match them."""
    import torch

    run_dir = tmp_path / "runs" / "run-6"
    _lora_run(tiny_llm, run_dir)
    assert ChatModel.from_run(run_dir).model.dtype == torch.float32  # no hardware.json: float32
    for trained, served in (("bfloat16", torch.float32), ("float16", torch.float32), ("float32", torch.float32)):
        (run_dir / "hardware.json").write_text(json.dumps({"choice": {"dtype": trained}}))
        model = ChatModel.from_run(run_dir).model
        assert {parameter.dtype for parameter in model.parameters()} == {served}, trained


@pytest.mark.slow
def test_a_complete_merged_export_is_served_instead_of_the_adapter(tiny_llm: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-6"
    adapter, tokenizer = _lora_run(tiny_llm, run_dir)
    with_adapter = _answers(ChatModel(adapter, tokenizer, "adapter"))
    with adapter.disable_adapter():
        base = _answers(ChatModel(adapter, tokenizer, "base"))
    # An "export" that is really the base model, so which weights answered is plain to see.
    export = run_dir / "export" / "merged"
    shutil.copytree(tiny_llm, export)
    assert _answers(ChatModel.from_run(run_dir)) == with_adapter  # no manifest yet: not a finished export
    (export / "manifest.json").write_text(json.dumps({"format": "merged", "files": []}))
    served = ChatModel.from_run(run_dir)
    assert served.weights == "the merged export in export/merged"
    assert _answers(served) == base
