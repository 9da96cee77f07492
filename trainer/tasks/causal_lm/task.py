"""The causal-LM tasks (SFT and DPO) as Tasks: what they share; sft.py and dpo.py name each one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.plan.plan import Plan, PlanRow
from trainer.store.registry import Registry
from trainer.tasks.base import MetricSpec, PlanRequest, Task

if TYPE_CHECKING:
    from trainer.serve.http import ServedApi

# The settings a causal-LM plan shows first, in this order (label, config field).
SHOWN = (
    ("task", "task"),
    ("base model", "model"),
    ("method", "method"),
    ("epochs", "epochs"),
    ("learning rate", "learning_rate"),
    ("batch size", "batch_size"),
    ("max length", "max_length"),
)


def hosted_split(count: int, config: dict[str, Any]) -> dict[str, list[int]]:
    """Train, validation and test rows of examples sent to a hosted API (shuffled with the run's seed)."""
    from trainer.data.splits import split_indices

    return split_indices(count, float(config["val_fraction"]), float(config["test_fraction"]), int(config["seed"]))


class CausalLMTask(Task):
    """Fine-tuning a causal language model with TRL and PEFT; LoRA by default."""

    methods = ("lora", "qlora", "full", "freeze")
    resumable = True
    metrics = (
        MetricSpec("eval_loss", "loss on the held-out validation examples", -1, "eval loss"),
        MetricSpec("perplexity", "exp(validation loss): how surprised the model is by held-out answers", -1),
        MetricSpec("final_loss", "last logged training loss", -1),
        MetricSpec("train_seconds", "wall-clock training time", 0),
    )
    hosted_trainable = True
    rank_metric = "eval_loss"
    dry_runnable = True

    def load_examples(self, path: Path) -> list[dict[str, Any]]:
        """The examples this task trains on, as its trainer takes them (chats here; pairs for DPO)."""
        from trainer.tasks.causal_lm.data import load_chats

        return load_chats(path)

    def dry_run(self, run_dir: Path) -> dict[str, Any]:
        """Load, tokenize everything, two steps on the longest examples, one evaluation, one generation."""
        from trainer.tasks.causal_lm.dry_run import dry_run_llm

        return dry_run_llm(run_dir, self.load_examples)

    def propose(self, request: PlanRequest) -> Plan:
        from trainer.tasks.causal_lm.plan import propose_llm

        # Chats and pairs have no text or label column to choose.
        settings = {k: v for k, v in request.settings.items() if k not in ("text_column", "label_column")}
        proposal = propose_llm(request.path, settings, self.name)
        config, reasons, choices = proposal["config"], proposal["reasons"], proposal["choices"]
        table = [PlanRow(label, config[key], reasons.get(key, "")) for label, key in SHOWN]
        if "lora" in str(config["method"]):
            lora = f"r {config['lora_r']}, alpha {config['lora_alpha']}, dropout {config['lora_dropout']}"
            table.append(PlanRow("LoRA", lora + f", on {config['lora_target_modules']}", reasons.get("lora", "")))
        table += [
            PlanRow(name.replace("_", " "), value, reasons[name]) for name, value in choices.items() if name in reasons
        ]
        return Plan(
            config=config,
            reasons=reasons,
            estimate_seconds=None,
            rows=proposal["rows"],
            file=request.path.name,
            table=table,
            extra={"task": self.name, "choices": choices},
        )

    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        from trainer.tasks.causal_lm.train import train_llm_run

        return train_llm_run(run_dir, registry, run_id, resume=resume)

    def resume_step(self, run_dir: Path) -> int | None:
        from trainer.tasks.causal_lm.checkpoints import latest_complete

        latest = latest_complete(run_dir / "checkpoints")
        return latest[0] if latest else None

    def launch_command(self, run_dir: Path, db_path: Path, run_id: int, resume: bool = False) -> list[str]:
        """Detect the GPUs and choose the launcher: `accelerate launch` across several (DDP), one process
        otherwise; command.sh (and accelerate.yaml) record it so the run can be repeated on a cluster node."""
        from trainer.plan.hardware import detect_hardware
        from trainer.plan.launch import distributed_plan, record_command, worker_command

        hardware = detect_hardware()
        gpu_memory = min((gpu["memory_gb"] for gpu in hardware.gpus), default=0.0)
        # Size is unknown before loading the model; plan DDP, which FSDP replaces only by the user's cluster config.
        plan = distributed_plan(hardware.num_gpus, need_gb=0.0, gpu_memory_gb=gpu_memory)
        precision = "bf16" if hardware.gpus and all(g.get("bf16") for g in hardware.gpus) else "no"
        command = worker_command(run_dir, db_path, run_id, plan=plan, resume=resume)
        record_command(run_dir, command, plan, mixed_precision=precision)
        return command

    def served_api(self) -> ServedApi:
        """OpenAI-compatible chat completions, so any OpenAI client can call the tuned model."""
        from trainer.serve import chat

        return chat.API
