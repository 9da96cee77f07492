"""Loading a causal LM for a method: full, freeze (lower layers frozen), LoRA, or QLoRA (4-bit, CUDA)."""

from __future__ import annotations

from typing import Any

from trainer.plan.config import RunConfig


def load_causal_lm(config: RunConfig, choice: dict[str, Any]) -> Any:
    """The base model with safetensors only; `trust_remote_code` only when the config turns it on."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        "trust_remote_code": config.trust_remote_code,
        "attn_implementation": choice.get("attention", "sdpa"),
    }
    if choice.get("dtype") in ("bfloat16", "float16"):
        kwargs["dtype"] = getattr(torch, choice["dtype"])
    else:
        kwargs["dtype"] = torch.float32
    if config.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
    return AutoModelForCausalLM.from_pretrained(config.model, **kwargs)


def lora_config(config: RunConfig) -> Any | None:
    """PEFT LoRA settings for lora/qlora; None for full and freeze."""
    if config.method not in ("lora", "qlora"):
        return None
    from peft import LoraConfig

    targets: str | list[str] = config.lora_target_modules.strip() or "all-linear"
    if targets != "all-linear":
        targets = [name.strip() for name in str(targets).split(",") if name.strip()]
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )


def decoder_layers(model: Any) -> Any:
    """The model's list of transformer blocks (the ModuleList as long as num_hidden_layers)."""
    import torch

    count = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError("Could not find the model's decoder layers to freeze.")


def freeze_lower(model: Any, layers: int) -> dict[str, int]:
    """Freeze the input embeddings and the lowest `layers` blocks (half of them when 0); return counts."""
    blocks = decoder_layers(model)
    keep_frozen = layers if layers > 0 else len(blocks) // 2
    keep_frozen = min(keep_frozen, len(blocks) - 1)  # at least one block keeps learning
    for parameter in model.get_input_embeddings().parameters():
        parameter.requires_grad = False
    for block in list(blocks)[:keep_frozen]:
        for parameter in block.parameters():
            parameter.requires_grad = False
    if getattr(model.config, "tie_word_embeddings", False):
        # The output head shares the embedding matrix; it stays frozen with it.
        pass
    return {**parameter_counts(model), "frozen_layers": keep_frozen}


def parameter_counts(model: Any) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "frozen": total - trainable, "total": total}
