"""How a run is started: one process, or `accelerate launch` across several GPUs (DDP, or FSDP when the
model does not fit one GPU). Pure functions, so the logic is tested for 1, 2 and 8 GPUs on a CPU.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_text

# The training process of every local run (it asks the run's task to train).
WORKER_MODULE = "trainer.backends.worker"
# Weights, gradients and optimizer state above this share of one GPU's memory: shard them (FSDP).
FSDP_THRESHOLD = 0.6


def distributed_plan(num_gpus: int, *, need_gb: float, gpu_memory_gb: float) -> dict[str, Any]:
    """Which launcher and parallelism to use for `num_gpus` GPUs, with a reason."""
    if num_gpus <= 1:
        where = "one GPU" if num_gpus == 1 else "this machine"
        return {"launcher": "python", "num_processes": 1, "reason": f"A single process on {where}."}
    if gpu_memory_gb and need_gb > FSDP_THRESHOLD * gpu_memory_gb:
        return {
            "launcher": "accelerate",
            "num_processes": num_gpus,
            "distributed_type": "FSDP",
            "reason": (
                f"{num_gpus} GPUs and the model's training state (~{need_gb:.1f} GB) does not fit one "
                f"{gpu_memory_gb:.0f} GB GPU: FSDP shards it across them."
            ),
        }
    return {
        "launcher": "accelerate",
        "num_processes": num_gpus,
        "distributed_type": "MULTI_GPU",
        "reason": f"{num_gpus} GPUs: data parallel (DDP), one process per GPU, each with a full copy of the model.",
    }


def accelerate_config(plan: dict[str, Any], *, mixed_precision: str = "no", layer_class: str | None = None) -> str:
    """The YAML for `accelerate launch --config_file`, from a `distributed_plan`."""
    lines = [
        "compute_environment: LOCAL_MACHINE",
        f"distributed_type: {plan.get('distributed_type', 'NO')}",
        f"num_processes: {plan['num_processes']}",
        "num_machines: 1",
        "machine_rank: 0",
        f"mixed_precision: {mixed_precision}",
        "main_training_function: main",
        "use_cpu: false",
    ]
    if plan.get("distributed_type") == "FSDP":
        lines += [
            "fsdp_config:",
            "  fsdp_version: 2",
            "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP",
            *([f"  fsdp_transformer_layer_cls_to_wrap: {layer_class}"] if layer_class else []),
            "  fsdp_state_dict_type: SHARDED_STATE_DICT",
            "  fsdp_cpu_ram_efficient_loading: true",
            "  fsdp_reshard_after_forward: true",
        ]
    return "\n".join(lines) + "\n"


def worker_command(
    run_dir: Path, db_path: Path, run_id: int, *, plan: dict[str, Any] | None = None, resume: bool = False
) -> list[str]:
    """The command line that trains this run; `accelerate launch` for several GPUs."""
    tail = ["-m", WORKER_MODULE, str(run_dir), "--db", str(db_path), "--run-id", str(run_id)]
    if resume:
        tail.append("--resume")
    if plan and plan.get("launcher") == "accelerate":
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(run_dir / "accelerate.yaml"),
            "--num_processes",
            str(plan["num_processes"]),
            *tail,
        ]
    return [sys.executable, *tail]


def record_command(run_dir: Path, command: list[str], plan: dict[str, Any] | None = None, **yaml_args: Any) -> Path:
    """Write command.sh (and accelerate.yaml) into the run folder so the run can be rerun on a cluster node."""
    if plan and plan.get("launcher") == "accelerate":
        atomic_write_text(run_dir / "accelerate.yaml", accelerate_config(plan, **yaml_args))
    path = run_dir / "command.sh"
    header = "#!/bin/sh\n# How this run was started; rerun it from any folder.\n"
    atomic_write_text(path, header + shlex.join(command) + "\n")
    return path
