"""What this machine has, and the training choices that follow from it (each with a reason).

`detect_hardware` only looks; `choose_settings` is pure (a dict in, a dict out) so the rules are
unit-tested for CPU, one GPU and many GPUs without any GPU present.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from trainer.core.errors import UserError

# CPU vector extensions worth naming: they decide how fast fp32/bf16 matmuls run.
CPU_FLAGS = ("avx", "avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma", "neon", "asimd")


@dataclass
class Hardware:
    device: str = "cpu"  # "cuda", "mps" or "cpu"
    gpus: list[dict[str, Any]] = field(default_factory=list)  # {"name", "memory_gb", "bf16"}
    cpu_count: int = 1
    cpu_flags: list[str] = field(default_factory=list)
    flash_attn: bool = False
    liger: bool = False
    bitsandbytes: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def num_gpus(self) -> int:
        return len(self.gpus) if self.device == "cuda" else 0


def _cpu_flags() -> list[str]:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return ["neon"] if platform.machine() in ("arm64", "aarch64") else []
    words: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            words.update(line.split(":", 1)[-1].split())
    return [flag for flag in CPU_FLAGS if flag in words]


def native_cpu_bf16(hardware: Hardware) -> bool:
    """True when the CPU multiplies bf16 matrices natively (AVX-512 BF16 or AMX), so bf16 beats fp32 there."""
    return any(flag in hardware.cpu_flags for flag in ("avx512_bf16", "amx_bf16"))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def detect_hardware() -> Hardware:
    import torch

    hardware = Hardware(cpu_count=os.cpu_count() or 1, cpu_flags=_cpu_flags())
    if torch.cuda.is_available():
        hardware.device = "cuda"
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            hardware.gpus.append(
                {
                    "name": props.name,
                    "memory_gb": round(props.total_memory / 2**30, 1),
                    "bf16": bool(torch.cuda.is_bf16_supported()),
                }
            )
        hardware.flash_attn = _installed("flash_attn")
        hardware.liger = _installed("liger_kernel")
        hardware.bitsandbytes = _installed("bitsandbytes")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        hardware.device = "mps"
    return hardware


def check_supported(method: str, hardware: Hardware) -> None:
    """Refuse GPU-only choices on a machine without CUDA, naming what to use instead."""
    if method == "qlora" and hardware.device != "cuda":
        raise UserError(
            f"QLoRA needs an NVIDIA GPU with CUDA (4-bit bitsandbytes) and this machine has {hardware.device.upper()} "
            "only; use --method lora instead (same adapters, without 4-bit quantization)."
        )
    if method == "qlora" and not hardware.bitsandbytes:
        raise UserError("QLoRA needs the bitsandbytes package; `pip install bitsandbytes`, or use --method lora.")


def check_attention(requested: str | None, hardware: Hardware) -> None:
    if requested and requested.startswith("flash") and hardware.device != "cuda":
        raise UserError(
            f"Flash attention runs on CUDA GPUs only and this machine has {hardware.device.upper()}; "
            "use attention 'sdpa' (PyTorch's fused attention), which tunechat picks by default."
        )


def choose_settings(
    hardware: Hardware,
    *,
    method: str,
    parameters: int,
    max_length: int,
    batch_size: int,
    gradient_checkpointing: str = "auto",
    attention: str | None = None,
) -> dict[str, Any]:
    """Pick dtype, attention, packing, length grouping, gradient checkpointing and Liger, with reasons.

    `parameters` is the model's parameter count (it decides whether memory needs checkpointing);
    `gradient_checkpointing` is "auto", "on" or "off".
    """
    check_supported(method, hardware)
    check_attention(attention, hardware)
    choice: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    bf16 = hardware.device == "cuda" and all(gpu.get("bf16") for gpu in hardware.gpus)
    if bf16:
        choice["dtype"] = "bfloat16"
        reasons["dtype"] = "bf16: the GPU supports it natively; half the memory of fp32 without fp16's overflow."
    elif hardware.device == "cuda":
        choice["dtype"] = "float16"
        reasons["dtype"] = "fp16 mixed precision: the GPU has no bf16."
    elif hardware.device == "cpu" and native_cpu_bf16(hardware) and method == "lora":
        choice["dtype"] = "bfloat16"
        reasons["dtype"] = (
            "bf16 on this CPU: it has native bf16 matrix instructions (avx512_bf16 or AMX), which made a LoRA step "
            "of SmolLM2 about 1.5x faster than fp32 here; the frozen base weights take half the memory, and the "
            "LoRA adapters stay in fp32."
        )
    elif hardware.device == "cpu" and native_cpu_bf16(hardware):
        choice["dtype"] = "float32"
        reasons["dtype"] = (
            "fp32 on CPU: full and frozen-layer fine-tuning update the base weights, and without fp32 master "
            "weights bf16 updates would round away; LoRA would use this CPU's bf16."
        )
    else:
        choice["dtype"] = "float32"
        reasons["dtype"] = (
            f"fp32 on {hardware.device.upper()}: bf16 autocast is slower than fp32 here "
            "(no native bf16 matmul), and fp32 is the numerically safe default."
        )

    if attention:
        choice["attention"] = attention
        reasons["attention"] = "You asked for this."
    elif hardware.device == "cuda" and hardware.flash_attn:
        choice["attention"] = "flash_attention_2"
        reasons["attention"] = "flash-attn is installed: fastest attention, and it allows padding-free batches."
    else:
        choice["attention"] = "sdpa"
        reasons["attention"] = "PyTorch SDPA: fused attention available everywhere (flash-attn needs CUDA)."

    # Padding-free: each batch is flattened into one row with per-example position ids; transformers then
    # builds a block-diagonal mask (SDPA) or uses varlen kernels (flash), so attention never crosses examples.
    choice["padding_free"] = True
    reasons["padding_free"] = (
        "Each batch is concatenated into one sequence with per-example positions (padding-free): no compute is "
        "spent on padding tokens, and every optimizer step still sees batch_size whole examples."
    )
    choice["group_by_length"] = False
    reasons["group_by_length"] = "Not needed: padding-free batches have no padding to save."

    gpu_memory = min((gpu["memory_gb"] for gpu in hardware.gpus), default=0.0)
    # Rough training memory: weights + grads + Adam (16 bytes/param full, about 2-4 for adapters) + activations.
    bytes_per_param = 16 if method in ("full", "freeze") else (0.7 if method == "qlora" else 2.5)
    need_gb = parameters * bytes_per_param / 2**30
    if gradient_checkpointing in ("on", "off"):
        choice["gradient_checkpointing"] = gradient_checkpointing == "on"
        reasons["gradient_checkpointing"] = "You asked for this."
    elif hardware.device == "cuda" and need_gb > 0.6 * gpu_memory:
        choice["gradient_checkpointing"] = True
        reasons["gradient_checkpointing"] = (
            f"About {need_gb:.1f} GB of weights and optimizer state on a {gpu_memory:.0f} GB GPU: recomputing "
            "activations saves memory for about 20% more time."
        )
    else:
        choice["gradient_checkpointing"] = False
        reasons["gradient_checkpointing"] = (
            "Off: memory is not tight for this model, and recomputing activations would cost about 20% more time."
        )

    choice["liger"] = hardware.device == "cuda" and hardware.liger
    reasons["liger"] = (
        "Liger kernels are installed: fused RMSNorm/RoPE/cross-entropy use less memory."
        if choice["liger"]
        else "Liger kernels are CUDA-only and need the liger-kernel package."
    )
    from trainer.plan.launch import distributed_plan

    plan = distributed_plan(hardware.num_gpus, need_gb=need_gb, gpu_memory_gb=gpu_memory)
    choice["launcher"] = plan["launcher"]
    choice["distributed"] = plan.get("distributed_type")
    reasons["launcher"] = plan["reason"]
    choice["per_device_batch_size"] = max(1, batch_size // max(1, hardware.num_gpus))
    return {"choice": choice, "reasons": reasons, "hardware": hardware.to_dict()}
