"""A plan for a causal-LM run: task and method from the data and the hardware, each choice with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.plan.config import resolve_config


def propose_llm(path: Path, user: dict[str, Any], task: str) -> dict[str, Any]:
    """Resolve the config for an sft/dpo run and explain it; refuses GPU-only choices on this hardware."""
    from trainer.plan.hardware import check_attention, check_supported, detect_hardware

    if not user.get("model"):
        raise UserError(
            "Name the causal language model to fine-tune (a Hugging Face id like 'Qwen/Qwen2.5-0.5B-Instruct' "
            "or a local folder), e.g. --model PATH or 'use model org/name'."
        )
    hardware = detect_hardware()
    method = user.get("method") or "lora"
    check_supported(method, hardware)
    check_attention(user.get("attention"), hardware)
    from trainer.tasks.causal_lm.data import load_chats, load_pairs
    from trainer.tasks.causal_lm.data_rules import data_defaults, placeholder_choices

    examples = load_chats(path) if task == "sft" else load_pairs(path)
    rows = len(examples)
    sized, sized_reasons = data_defaults(rows, method, task)
    filled = placeholder_choices(examples, user.get("placeholders"), user.get("sample_prompts"))
    proposed: dict[str, Any] = {
        "data": str(path),
        "task": task,
        "method": method,
        **sized,
        "max_length": 1024,
        "val_fraction": 0.1,
        **filled["proposed"],
    }
    reasons = {
        "task": "Preference pairs (chosen/rejected): DPO." if task == "dpo" else "Chats or instructions: SFT.",
        "method": (
            "LoRA: small adapters train fast and fit in little memory; the base model stays untouched."
            if method == "lora"
            else "You asked for this."
        ),
        **sized_reasons,
        "max_length": "1024 tokens: batches are padding-free, so a roomy limit costs nothing for short examples.",
        "hardware": f"{hardware.device.upper()}"
        + (f" x{hardware.num_gpus}" if hardware.num_gpus > 1 else "")
        + (": fp32, SDPA attention, packed batches" if hardware.device != "cuda" else ""),
    }
    config = resolve_config(proposed, {k: v for k, v in user.items() if v is not None})
    from trainer.plan.hardware import choose_settings

    # The model's size is known only once loaded: the worker redoes this with it (hardware.json).
    settings = choose_settings(
        hardware,
        method=config.method,
        parameters=0,
        max_length=config.max_length,
        batch_size=config.batch_size,
        gradient_checkpointing=config.gradient_checkpointing,
        attention=config.attention or None,
    )
    shown = ("dtype", "attention", "padding_free", "gradient_checkpointing", "liger", "launcher")
    choices = {name: settings["choice"][name] for name in shown}
    reasons.update({name: settings["reasons"][name] for name in shown})
    reasons.setdefault(
        "lora", "Defaults that work for most models; change with lora_r, lora_alpha, lora_target_modules."
    )
    for key, value in user.items():
        if value is not None and key not in ("model",):
            reasons[key] = "You asked for this."
    reasons.update(filled["reasons"])  # what the data's placeholders need says more than "you asked"
    plan = {"config": config.to_dict(), "reasons": reasons, "estimate_seconds": None, "rows": rows, "task": task}
    return {**plan, "choices": choices, **filled["extra"]}
