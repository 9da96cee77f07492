"""What a causal-LM run hands TRL: the hardware choices for its config, the TRL arguments (the task picks its
config class) and the trainer (the task picks its class); the run (train.py) and the dry run (dry_run.py) share it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainer.plan.config import RunConfig
from trainer.tasks.registry import get_task

LOG_POINTS = 25


def plan_choices(config: RunConfig, parameters: int) -> dict[str, Any]:
    """Hardware detection plus the choices for this config (raises UserError for GPU-only choices on CPU)."""
    from trainer.plan.hardware import choose_settings, detect_hardware

    return choose_settings(
        detect_hardware(),
        method=config.method,
        parameters=parameters,
        max_length=config.max_length,
        batch_size=config.batch_size,
        gradient_checkpointing=config.gradient_checkpointing,
        attention=config.attention or None,
    )


def trainer_args(
    config: RunConfig,
    choice: dict[str, Any],
    output_dir: Path,
    train_size: int,
    has_validation: bool,
    tokenizer: Any,
    run_dir: Path | None = None,
) -> Any:
    """TRL's arguments of a run; `run_dir` (a real run's folder, not a dry run's scratch) turns on its tracker."""
    import torch

    from trainer.tasks.tracking import tracking_for

    per_device = int(choice.get("per_device_batch_size", config.batch_size))
    steps_per_epoch = max(1, math.ceil(train_size / (per_device * config.gradient_accumulation_steps)))
    total = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    save_steps = config.save_steps or max(1, total // 5)
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "per_device_train_batch_size": per_device,
        "per_device_eval_batch_size": per_device,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "warmup_steps": min(config.warmup_ratio, 0.99),
        "lr_scheduler_type": "linear",
        "logging_strategy": "steps",
        "logging_steps": max(1, total // LOG_POINTS),
        "logging_first_step": True,
        # The NaN guard must see a NaN loss; the Trainer would otherwise hide it behind the running mean.
        "logging_nan_inf_filter": False,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": 2,
        "eval_strategy": "steps" if has_validation else "no",
        "eval_steps": save_steps,
        **tracking_for(config, run_dir).trainer_arguments(),
        "disable_tqdm": True,
        "use_cpu": not torch.cuda.is_available(),
        "bf16": choice["dtype"] == "bfloat16",
        "fp16": choice["dtype"] == "float16",
        "activation_checkpointing": bool(choice["gradient_checkpointing"]),  # transformers 5 name
        "include_num_input_tokens_seen": "non_padding",
        # Liger's fused kernels (CUDA only, when installed); `use_kernels` would fetch kernels from the Hub instead.
        "use_liger_kernel": bool(choice.get("liger")),
        "seed": config.seed,
        "data_seed": config.seed,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "max_length": config.max_length,
    }
    # Which TRL config (and what it adds to these) is the task's choice.
    task: Any = get_task(config.task)
    return task.trl_args(common, config, choice, tokenizer)


def make_trainer(
    config: RunConfig,
    model: Any,
    tokenizer: Any,
    args: Any,
    train_rows: list[dict[str, Any]],
    val_rows: list[dict[str, Any]],
    callbacks: list[Any],
) -> Any:
    from datasets import Dataset

    from trainer.tasks.causal_lm.methods import lora_config

    train_set = Dataset.from_list(train_rows)
    val_set = Dataset.from_list(val_rows) if val_rows else None
    task: Any = get_task(config.task)
    kind = task.trainer_class()
    return kind(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=callbacks,
    )
