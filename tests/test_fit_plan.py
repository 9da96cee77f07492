"""Causal-LM plans on faked hardware: the model and method proposed, what the fit says, the change it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer.plan.hardware import Hardware
from trainer.plan.plan import Plan
from trainer.tasks.base import PlanRequest
from trainer.tasks.causal_lm.dpo import TASK as DPO
from trainer.tasks.causal_lm.sft import SFT
from trainer.tasks.causal_lm.sft import TASK as SFT_TASK

GIB = 2**30


def gpu(memory_gb: float, *, bitsandbytes: bool = True) -> Hardware:
    card = {"name": "NVIDIA GeForce RTX 4090", "memory_gb": memory_gb, "bf16": True}
    return Hardware(device="cuda", gpus=[card], cpu_count=8, bitsandbytes=bitsandbytes)


CPU = Hardware(device="cpu", cpu_count=2, cpu_flags=["avx2", "fma"])


def use(monkeypatch: pytest.MonkeyPatch, hardware: Hardware, ram: float = 16 * GIB) -> None:
    """Set the hardware the planner sees, the RAM available, and a CPU that measures 50 GFLOP/s."""
    monkeypatch.setattr("trainer.plan.hardware.detect_hardware", lambda: hardware)
    monkeypatch.setattr("trainer.core.memory.cpu_available_bytes", lambda: int(ram))
    monkeypatch.setattr("trainer.tasks.text_classification.plan.machine_gflops", lambda cache_dir=None: 50.0)


def write_chats(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}? " * 5},
                {"role": "assistant", "content": "An answer. " * (10 + i)},
            ]
        }
        for i in range(40)
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_pairs(tmp_path: Path) -> Path:
    rows = [
        {"prompt": f"Say something {i}.", "chosen": "A kind reply. " * 8, "rejected": "No. " * 3} for i in range(30)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def plan_for(task: Any, path: Path, root: Path, **settings: Any) -> Plan:
    return task.propose(PlanRequest(path, settings, cache_dir=root))


def rows(plan: Plan) -> dict[str, Any]:
    return {row.setting: row for row in plan.table}


def test_a_cpu_proposes_the_catalog_smollm2_with_lora_and_says_it_fits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    use(monkeypatch, CPU)
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path)
    assert plan.config["model"] == "smollm2" and plan.config["method"] == "lora"
    table = rows(plan)
    assert "SmolLM2-135M-Instruct" in table["base model"].reason and "this CPU" in table["base model"].reason
    assert table["fits"].value == "yes" and table["fits"].reason.startswith("Fits: estimated peak")
    assert table["peak memory"].value.endswith(("MB", "GB"))
    # The tokenizer is not in this empty workspace: lengths come from characters, and the plan says so.
    assert "estimated from characters" in table["peak memory"].reason
    assert plan.estimate_seconds is not None and plan.estimate_seconds > 0
    assert "An estimate, not a promise" in table["time"].reason and "50 GFLOP/s" in table["time"].reason


def test_a_24_gb_gpu_proposes_qwen_7b_with_lora(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    use(monkeypatch, gpu(24.0))
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path)
    assert plan.config["model"] == "Qwen/Qwen2.5-7B-Instruct" and plan.config["method"] == "lora"
    table = rows(plan)
    assert "24 GB GPU" in table["base model"].reason and "estimated peak" in table["base model"].reason
    assert table["fits"].value == "yes"
    assert "RTX 4090" in table["time"].reason


def test_an_8_gb_gpu_proposes_qwen_7b_in_4_bit_saying_qlora_makes_it_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    use(monkeypatch, gpu(8.0))
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path)
    assert plan.config["model"] == "Qwen/Qwen2.5-7B-Instruct" and plan.config["method"] == "qlora"
    table = rows(plan)
    assert "QLoRA's 4-bit weights make it fit, LoRA would need" in table["base model"].reason
    assert table["method"].reason.startswith("QLoRA")
    assert table["fits"].value == "yes"


def test_an_8_gb_gpu_without_bitsandbytes_proposes_a_smaller_qwen_with_lora(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    use(monkeypatch, gpu(8.0, bitsandbytes=False))
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path)
    assert plan.config["method"] == "lora"
    assert plan.config["model"] in ("Qwen/Qwen2.5-3B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct")
    assert rows(plan)["fits"].value == "yes"


def test_a_named_model_too_big_for_the_gpu_gets_the_change_that_makes_it_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    use(monkeypatch, gpu(24.0))
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path, model="meta-llama/Llama-3.1-8B-Instruct", method="full")
    fits = rows(plan)["fits"]
    assert fits.value == "no"
    assert "Does not fit as proposed" in fits.reason and "LoRA instead of training every weight" in fits.reason
    assert "makes it fit: estimated" in fits.reason


@pytest.mark.slow  # builds the tiny model
def test_a_named_local_model_is_sized_from_its_config_and_tokenizer(
    monkeypatch: pytest.MonkeyPatch, tiny_llm: Path, tmp_path: Path
):
    use(monkeypatch, CPU, ram=2 * GIB)
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path, model=str(tiny_llm))
    table = rows(plan)
    assert "counted with the model's tokenizer" in table["peak memory"].reason
    assert table["fits"].value == "yes"


def test_too_little_ram_for_the_batch_names_a_smaller_micro_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    use(monkeypatch, CPU, ram=3 * GIB)
    named = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path, model="smollm2")
    fits, proposed_batch = rows(named)["fits"], named.config["batch_size"]
    assert fits.value == "no" and "with gradient accumulation" in fits.reason
    assert f"effective batch of {proposed_batch} is kept" in fits.reason
    # Without a named model the proposal takes that change itself, and says so.
    default = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path)
    table = rows(default)
    assert default.config["batch_size"] < proposed_batch and table["fits"].value == "yes"
    batch = default.config["batch_size"] * default.config["gradient_accumulation_steps"]
    assert batch == proposed_batch and "the same effective batch in less memory" in table["batch size"].reason


def test_an_unknown_architecture_is_not_guessed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    use(monkeypatch, gpu(24.0))
    plan = plan_for(SFT_TASK, write_chats(tmp_path), tmp_path, model="someone/unknown-model")
    table = rows(plan)
    assert table["peak memory"].value == "unknown" and "unknown offline" in table["peak memory"].reason
    assert table["time"].value == "unknown" and plan.estimate_seconds is None


def test_preference_pairs_are_sized_as_two_sequences_each(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    use(monkeypatch, CPU)
    plan = plan_for(DPO, write_pairs(tmp_path), tmp_path)
    assert plan.rows == 30 and plan.config["task"] == "dpo"
    assert "micro batch of 8 examples (16 sequences)" in rows(plan)["peak memory"].reason  # chosen and rejected


def test_rows_are_counted_through_the_tasks_load_examples(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    class FirstTen(SFT):
        name = "sft"  # resolve_config knows only registered task names

        def load_examples(self, path: Path) -> list[dict[str, Any]]:
            return super().load_examples(path)[:10]

    use(monkeypatch, CPU)
    assert plan_for(FirstTen(), write_chats(tmp_path), tmp_path).rows == 10


def test_a_classifier_plan_says_its_peak_memory_and_whether_it_fits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from trainer.plan.fit.encoder import encoder_memory

    bert = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536}
    small = encoder_memory({**bert, "vocab_size": 30522}, batch=16, length=64, freeze_layers=0, device="cpu")
    large = encoder_memory({**bert, "vocab_size": 30522}, batch=32, length=128, freeze_layers=0, device="cpu")
    assert small is not None and large is not None
    assert round(small["weights"] / 4 / 1e6) == 23  # all-MiniLM-L6-v2 has 22.7 M parameters
    assert large["activations"] > 4 * small["activations"]  # twice the texts, twice as long, attention per pair
    assert encoder_memory({"model_type": "mystery"}, batch=1, length=8, freeze_layers=0, device="cpu") is None

    from trainer.plan.fit.encoder import encoder_fit_rows

    model = tmp_path / "encoder"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({**bert, "vocab_size": 30522}))
    run = {"model": str(model), "batch_size": 16, "max_length": 64, "freeze_layers": 0}
    use(monkeypatch, CPU, ram=8 * GIB)
    rows = {name: (value, reason) for name, value, reason in encoder_fit_rows(run)}
    assert rows["fits"][0] == "yes" and "batch of 16 texts padded to 64 tokens" in rows["peak memory"][1]
    use(monkeypatch, CPU, ram=0.5 * GIB)
    rows = {name: (value, reason) for name, value, reason in encoder_fit_rows(run)}
    assert rows["fits"][0] == "no" and "smaller batch size" in rows["fits"][1]
    unknown = encoder_fit_rows({**run, "model": "someone/unknown"})
    assert unknown[0][1] == "unknown"
