"""A plan for a causal-LM run: task and method from the data and the hardware, each choice with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.plan.config import resolve_config

if TYPE_CHECKING:
    from trainer.tasks.causal_lm.task import CausalLMTask


def propose_llm(
    path: Path, user: dict[str, Any], causal_task: CausalLMTask, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Resolve the config for a causal-LM run and explain it; refuses GPU-only choices on this hardware.

    Without a named model it proposes one for this machine (trainer/tasks/causal_lm/sizing.py), and every plan
    says its estimated peak memory, whether that fits (or what change makes it fit) and its wall time.
    """
    from trainer.plan.hardware import check_attention, check_supported, detect_hardware
    from trainer.tasks.causal_lm import sizing

    task = causal_task.name
    hardware = detect_hardware()
    method = user.get("method") or "lora"
    check_supported(method, hardware)
    check_attention(user.get("attention"), hardware)
    from trainer.tasks.causal_lm.data_rules import data_defaults, placeholder_choices

    examples = causal_task.load_examples(path)
    rows = len(examples)
    small_data, small_data_reasons = data_defaults(rows, method, task)
    filled = placeholder_choices(examples, user.get("placeholders"), user.get("sample_prompts"))
    proposed: dict[str, Any] = {
        "data": str(path),
        "task": task,
        "method": method,
        **small_data,
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
        **small_data_reasons,
        "max_length": "1024 tokens: batches are padding-free, so a roomy limit costs nothing for short examples.",
        "hardware": f"{hardware.device.upper()}"
        + (f" x{hardware.num_gpus}" if hardware.num_gpus > 1 else "")
        + (": SDPA attention, packed batches" if hardware.device != "cuda" else ""),
    }
    sizer = sizing.Sizer(
        hardware,
        examples,
        root=cache_dir,
        reference_model=causal_task.reference_model,
        gflops=_gflops(hardware, cache_dir),
    )
    if not user.get("model"):

        def fit_of(model: str, candidate: str) -> Any:
            config, settings = _settle({**proposed, "model": model, "method": candidate}, user, hardware, cache_dir)
            return sizer.fit(config.to_dict(), settings["choice"])

        model, proposed["method"], reasons["model"], changes = sizing.default_model(
            hardware, fit_of, user.get("method")
        )
        proposed.update(model=model, **changes)
        if not user.get("method") and proposed["method"] != method:
            reasons["method"] = "QLoRA: 4-bit base weights with LoRA adapters, so a larger model fits this GPU."
        if "batch_size" in changes:
            accumulation = changes["gradient_accumulation_steps"]
            reasons["batch_size"] = (
                f"{changes['batch_size']} chats per micro batch, {accumulation} micro batches per optimizer step: "
                "the same effective batch in less memory (see fits)."
            )
    config, settings = _settle(proposed, user, hardware, cache_dir)
    shown = ("dtype", "attention", "padding_free", "gradient_checkpointing", "liger", "launcher")
    choices = {name: settings["choice"][name] for name in shown}
    reasons.update({name: settings["reasons"][name] for name in shown})
    if "gradient_checkpointing" in proposed and not user.get("gradient_checkpointing"):
        reasons["gradient_checkpointing"] = "On: the estimate says the activations would not fit otherwise."
    reasons.setdefault(
        "lora", "Defaults that work for most models; change with lora_r, lora_alpha, lora_target_modules."
    )
    for key, value in user.items():
        if value is not None and key not in ("model",):
            reasons[key] = "You asked for this."
    reasons.update(filled["reasons"])  # what the data's placeholders need says more than "you asked"
    sized = sizer.size(config.to_dict(), settings["choice"])
    plan = {
        "config": config.to_dict(),
        "reasons": reasons,
        "estimate_seconds": sized["estimate_seconds"],
        "rows": rows,
        "task": task,
    }
    return {**plan, "choices": choices, "fit_rows": sized["rows"], **filled["extra"]}


def _settle(proposed: dict[str, Any], user: dict[str, Any], hardware: Any, root: Path | None) -> tuple[Any, dict]:
    """The resolved config and the hardware choices for it, sized with the model's parameters when known."""
    from trainer.plan.fit import architecture_of
    from trainer.plan.hardware import choose_settings

    config = resolve_config(proposed, {k: v for k, v in user.items() if v is not None})
    architecture = architecture_of(config.model, root)
    # Unknown architectures are sized once loaded: the worker redoes this with the model (hardware.json).
    settings = choose_settings(
        hardware,
        method=config.method,
        parameters=architecture.parameters if architecture else 0,
        max_length=config.max_length,
        batch_size=config.batch_size,
        gradient_checkpointing=config.gradient_checkpointing,
        attention=config.attention or None,
    )
    return config, settings


def _gflops(hardware: Any, cache_dir: Path | None) -> float:
    """This CPU's measured matmul rate (cached in the workspace); unused on CUDA, where a GPU table is used."""
    if hardware.device == "cuda":
        return 0.0
    from trainer.tasks.text_classification.plan import machine_gflops

    return machine_gflops(cache_dir)
