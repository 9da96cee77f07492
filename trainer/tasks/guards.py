"""Stop a run that cannot learn (NaN loss, or a loss of exactly 0 because every label was masked), and turn
an out-of-memory error into concrete suggestions.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

from trainer.core.errors import UserError
from trainer.core.memory import fmt_bytes
from trainer.plan.config import RunConfig
from trainer.tasks.registry import task_of

# Consecutive logged losses of exactly 0 before the run is stopped (one can be a fluke of rounding).
ZERO_LOSS_LOGS = 2


class LossGuard(TrainerCallback):
    """Raises UserError from the training loop as soon as a logged loss is NaN/inf or stays exactly 0."""

    def __init__(self, zero_loss_check: bool = True) -> None:
        self.zero_logs = 0
        # A classifier's loss can honestly reach 0; only a causal LM's exactly-0 loss means "all labels masked".
        self.zero_loss_check = zero_loss_check

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        grad_norm = logs.get("grad_norm")
        for name, value in (("loss", loss), ("gradient norm", grad_norm)):
            if value is not None and not math.isfinite(float(value)):
                raise UserError(
                    f"The training {name} became {value} at step {state.global_step}, so the run was stopped; "
                    "lower the learning rate (e.g. by 10x), or check the model's weights for NaN values."
                )
        if loss is not None and float(loss) == 0.0 and self.zero_loss_check:
            self.zero_logs += 1
            if self.zero_logs >= ZERO_LOSS_LOGS:
                raise UserError(
                    f"The training loss stayed exactly 0 up to step {state.global_step}, which means every label "
                    "was masked (no assistant or completion tokens were trained); check that the chats have "
                    "assistant replies and that max_length does not cut them off."
                )
        elif loss is not None:
            self.zero_logs = 0


def is_out_of_memory(error: BaseException) -> bool:
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    # CPU tensors fail with "DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes".
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        isinstance(error, MemoryError) or any(s in text for s in ("out of memory", "can't allocate memory"))
    )


def oom_suggestions(config: RunConfig, device: str) -> list[str]:
    """What to change after running out of memory, most effective first."""
    tips = []
    if config.batch_size > 1:
        half = max(1, config.batch_size // 2)
        accumulation = config.gradient_accumulation_steps * (config.batch_size // half)
        tips.append(
            f"batch_size {half} with gradient_accumulation_steps {accumulation} (same effective batch, half the memory)"
        )
    if config.max_length > 256:
        tips.append(f"max_length {config.max_length // 2}")
    if config.gradient_checkpointing != "on":
        tips.append("gradient_checkpointing on")
    if not task_of(config.to_dict()).adapters:
        pass  # a task without adapters (a classifier trains all its small weights) keeps its method
    elif config.method in ("full", "freeze"):
        tips.append("method lora" + (" or qlora" if device == "cuda" else ""))
    elif config.method == "lora" and device == "cuda":
        tips.append("method qlora (4-bit base model)")
    return tips


def oom_message(config: RunConfig, device: str, tried: int | None = None) -> str:
    """The run's one-sentence error for an out-of-memory failure; `tried` is the allocation that failed, if known."""
    tips = oom_suggestions(config, device)
    where = "GPU " if device == "cuda" else ""
    failed = f" (one allocation of {fmt_bytes(tried)} failed)" if tried else ""
    advice = "; ".join(tips) if tips else "a smaller model"
    return f"Training ran out of {where}memory{failed}; try {advice}."
