"""Hardware choices and the multi-GPU launch logic, for CPU, 1, 2 and 8 GPUs, without any GPU present."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from trainer.core.errors import UserError
from trainer.plan.hardware import Hardware, check_supported, choose_settings
from trainer.plan.launch import accelerate_config, distributed_plan, record_command, worker_command


def gpus(count: int, memory_gb: float = 80.0, bf16: bool = True) -> Hardware:
    return Hardware(
        device="cuda",
        gpus=[{"name": "A100", "memory_gb": memory_gb, "bf16": bf16}] * count,
        cpu_count=32,
        flash_attn=True,
        liger=True,
        bitsandbytes=True,
    )


CPU = Hardware(device="cpu", cpu_count=2, cpu_flags=["avx2", "fma"])


def test_cpu_choices_are_fp32_sdpa_padding_free_without_checkpointing():
    plan = choose_settings(CPU, method="lora", parameters=500_000_000, max_length=1024, batch_size=8)
    choice, reasons = plan["choice"], plan["reasons"]
    assert choice["dtype"] == "float32" and choice["attention"] == "sdpa" and choice["padding_free"] is True
    assert choice["gradient_checkpointing"] is False and choice["liger"] is False
    assert choice["launcher"] == "python" and choice["per_device_batch_size"] == 8
    assert "flash-attn needs CUDA" in reasons["attention"]


def test_cpu_refuses_qlora_and_flash_attention_naming_the_alternative():
    with pytest.raises(UserError, match="use --method lora instead"):
        check_supported("qlora", CPU)
    with pytest.raises(UserError, match="use attention 'sdpa'"):
        choose_settings(CPU, method="lora", parameters=1, max_length=64, batch_size=1, attention="flash_attention_2")


def test_one_gpu_uses_bf16_flash_attention_liger_and_a_single_process():
    choice = choose_settings(gpus(1), method="qlora", parameters=7_000_000_000, max_length=2048, batch_size=16)[
        "choice"
    ]
    assert choice["dtype"] == "bfloat16" and choice["attention"] == "flash_attention_2" and choice["liger"]
    assert choice["launcher"] == "python" and choice["per_device_batch_size"] == 16


def test_full_fine_tuning_a_big_model_turns_on_gradient_checkpointing_on_a_small_gpu():
    plan = choose_settings(gpus(1, memory_gb=24), method="full", parameters=1_500_000_000, max_length=512, batch_size=4)
    assert plan["choice"]["gradient_checkpointing"] is True
    assert "24 GB GPU" in plan["reasons"]["gradient_checkpointing"]
    fp16 = choose_settings(gpus(1, bf16=False), method="lora", parameters=1, max_length=64, batch_size=1)
    assert fp16["choice"]["dtype"] == "float16"


@pytest.mark.parametrize(("count", "kind"), [(2, "MULTI_GPU"), (8, "MULTI_GPU")])
def test_several_gpus_launch_with_accelerate_ddp(count, kind, tmp_path: Path):
    plan = choose_settings(gpus(count), method="lora", parameters=1_000_000_000, max_length=1024, batch_size=32)
    choice = plan["choice"]
    assert choice["launcher"] == "accelerate" and choice["distributed"] == kind
    assert choice["per_device_batch_size"] == 32 // count
    launch = distributed_plan(count, need_gb=2.0, gpu_memory_gb=80)
    command = worker_command(tmp_path, tmp_path / "db.sqlite", 7, plan=launch, resume=True)
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == str(count)
    tail = [
        "trainer.backends.worker",
        str(tmp_path),
        "--db",
        str(tmp_path / "db.sqlite"),
        "--run-id",
        "7",
        "--resume",
    ]
    assert command[-7:] == tail
    script = record_command(tmp_path, command, launch, mixed_precision="bf16")
    assert shlex.split(script.read_text().splitlines()[-1]) == command
    yaml_text = (tmp_path / "accelerate.yaml").read_text()
    assert f"num_processes: {count}" in yaml_text and "distributed_type: MULTI_GPU" in yaml_text
    assert "mixed_precision: bf16" in yaml_text


def test_a_model_too_big_for_one_gpu_is_sharded_with_fsdp():
    plan = choose_settings(
        gpus(8, memory_gb=40), method="full", parameters=7_000_000_000, max_length=2048, batch_size=64
    )
    assert plan["choice"]["distributed"] == "FSDP" and "FSDP shards" in plan["reasons"]["launcher"]
    launch = distributed_plan(8, need_gb=104.0, gpu_memory_gb=40)
    yaml_text = accelerate_config(launch, mixed_precision="bf16", layer_class="LlamaDecoderLayer")
    assert "distributed_type: FSDP" in yaml_text and "num_processes: 8" in yaml_text
    assert "fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer" in yaml_text


def test_one_gpu_or_cpu_runs_the_worker_directly(tmp_path: Path):
    for count in (0, 1):
        launch = distributed_plan(count, need_gb=1.0, gpu_memory_gb=80)
        command = worker_command(tmp_path, tmp_path / "db", 3, plan=launch)
        assert command[1:3] == ["-m", "trainer.backends.worker"] and "--resume" not in command


BF16_CPU = Hardware(device="cpu", cpu_count=2, cpu_flags=["avx2", "avx512f", "avx512_bf16", "fma"])


def test_a_cpu_with_native_bf16_trains_lora_in_bf16_and_full_fine_tuning_in_fp32():
    lora = choose_settings(BF16_CPU, method="lora", parameters=135_000_000, max_length=1024, batch_size=8)
    assert lora["choice"]["dtype"] == "bfloat16" and "native bf16 matrix instructions" in lora["reasons"]["dtype"]
    full = choose_settings(BF16_CPU, method="full", parameters=135_000_000, max_length=1024, batch_size=8)
    assert full["choice"]["dtype"] == "float32" and "fp32 master weights" in full["reasons"]["dtype"]
    # Without avx512_bf16 or AMX, bf16 would be emulated and slower: fp32 for every method.
    plain = choose_settings(CPU, method="lora", parameters=135_000_000, max_length=1024, batch_size=8)
    assert plain["choice"]["dtype"] == "float32" and "no native bf16 matmul" in plain["reasons"]["dtype"]
