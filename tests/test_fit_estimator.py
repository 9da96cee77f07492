"""The fit estimator's arithmetic and its search for a change that makes a run fit (no model is loaded)."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.plan.fit import Setting, architecture_of, estimate_memory, from_config, known
from trainer.plan.fit.fixes import Job, assess, batch_tokens
from trainer.plan.fit.speed import gpu_tflops, step_flops

GIB = 2**30
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def test_parameter_counts_match_the_published_sizes():
    # Model cards: SmolLM2 135M, Qwen2.5-0.5B 0.49 B, Qwen2.5-7B 7.61 B, Llama 3.1 8B 8.03 B.
    assert round(known("HuggingFaceTB/SmolLM2-135M-Instruct").parameters / 1e6) == 135
    assert round(known("Qwen/Qwen2.5-0.5B-Instruct").parameters / 1e9, 2) == 0.49
    assert round(known("Qwen/Qwen2.5-7B-Instruct").parameters / 1e9, 2) == 7.62
    assert round(known(LLAMA_8B).parameters / 1e9, 2) == 8.03
    assert known("smollm2") == known("HuggingFaceTB/SmolLM2-135M-Instruct")  # the catalog name
    assert known("nobody/nothing") is None


def test_a_local_config_json_is_read_and_an_unknown_folder_is_not_guessed(tmp_path: Path):
    config = {
        "model_type": "llama",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "intermediate_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 100,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    found = architecture_of(str(tmp_path))
    assert found is not None and found.source.endswith("config.json")
    per_block = 32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 64
    assert found.parameters == 2 * per_block + 100 * 32 + 5 * 32
    empty = tmp_path / "empty"
    empty.mkdir()
    assert architecture_of(str(empty)) is None
    assert from_config({"model_type": "mystery"}, "x") is None


def test_each_method_needs_less_than_the_one_before():
    llama = known(LLAMA_8B)
    base = Setting(dtype="bfloat16", device="cuda", micro_batch=2, tokens=1024, longest=512)
    peaks = [estimate_memory(llama, base.but(method=m)).peak for m in ("full", "freeze", "lora", "qlora")]
    assert peaks == sorted(peaks, reverse=True)
    full = estimate_memory(llama, base.but(method="full"))
    # Pure bf16 training: 2 bytes of weights, 2 of gradients and 2 x 2 of AdamW states per parameter.
    assert full.parts["weights"] == full.parts["gradients"] == llama.parameters * 2
    assert full.parts["optimizer states"] == llama.parameters * 4
    lora = estimate_memory(llama, base.but(method="lora"))
    assert lora.trainable < llama.parameters * 0.01  # rank-16 adapters on every linear layer: about 0.5%


def test_checkpointing_shorter_batches_and_frozen_layers_cut_activations():
    qwen = known("Qwen/Qwen2.5-1.5B-Instruct")
    base = Setting(method="full", dtype="bfloat16", device="cuda", micro_batch=4, tokens=4096, longest=1024)
    plain = estimate_memory(qwen, base).parts["activations"]
    assert estimate_memory(qwen, base.but(gradient_checkpointing=True)).parts["activations"] < plain / 5
    assert estimate_memory(qwen, base.but(tokens=2048)).parts["activations"] == plain / 2
    assert estimate_memory(qwen, base.but(method="freeze")).parts["activations"] < plain * 0.6
    logits = estimate_memory(qwen, base).parts["logits"]
    assert logits == 4096 * qwen.vocab * (2 + 12)  # bf16 logits and three float32 copies in the loss


def test_padding_free_batches_hold_their_tokens_and_padded_ones_the_longest():
    lengths = [100, 900, 50, 2000, 300]
    assert batch_tokens(lengths, 5, 1024, padding_free=True) == (1024 + 900 + 300 + 100 + 50, 1024)
    assert batch_tokens(lengths, 5, 1024, padding_free=False) == (5 * 1024, 1024)
    assert batch_tokens([100] * 10, 2, 512, padding_free=True) == (200, 100)
    # Pairs stay together: two examples of two sequences each.
    assert batch_tokens([10, 20, 30, 40], 2, 512, padding_free=True, per_example=2) == (100, 40)
    assert batch_tokens([], 2, 512, padding_free=True) == (1024, 512)
    # The largest batch of shuffled epochs, not the ten longest examples together.
    skewed = [2000] * 10 + [100] * 990
    tokens, _ = batch_tokens(skewed, 8, 4096, padding_free=True)
    assert 8 * 100 < tokens < 8 * 2000


def test_a_fitting_run_needs_no_change():
    job = Job(known("Qwen/Qwen2.5-0.5B-Instruct"), Setting(device="cuda", dtype="bfloat16"), (200,) * 50).sized()
    fit = assess(job, 24 * GIB)
    assert fit.fits and fit.change == "" and fit.sentence().startswith("Fits")


def test_a_smaller_micro_batch_with_accumulation_is_tried_first():
    setting = Setting(device="cpu", dtype="float32", micro_batch=8)
    job = Job(known("smollm2"), setting, tuple([700] * 40), max_length=1024).sized()
    total = estimate_memory(job.architecture, job.setting).peak * 0.6 / 0.85
    fit = assess(job, total)
    assert fit.fits is False and fit.overrides["batch_size"] < 8
    assert fit.overrides["batch_size"] * fit.overrides["gradient_accumulation_steps"] == 8
    assert "effective batch of 8 is kept" in fit.change and fit.after is not None
    assert fit.after.peak <= total * 0.85
    assert "makes it fit: estimated" in fit.sentence()


def test_full_fine_tuning_of_a_7b_on_24_gb_is_told_to_use_lora():
    setting = Setting(method="full", device="cuda", dtype="bfloat16", micro_batch=2)
    job = Job(known("Qwen/Qwen2.5-7B-Instruct"), setting, tuple([120] * 100)).sized()
    fit = assess(job, 24 * GIB, qlora=True)
    assert fit.fits is False
    assert fit.overrides == {"method": "lora"} and fit.change.startswith("LoRA")


def test_truncation_names_how_many_examples_get_cut():
    # Micro batch 1 already: only a shorter max length (or later changes) can help.
    setting = Setting(device="cpu", dtype="float32", micro_batch=1, gradient_checkpointing=True)
    lengths = tuple([4000] * 3 + [200] * 97)
    job = Job(known("smollm2"), setting, lengths, max_length=4096).sized()
    total = estimate_memory(job.architecture, job.sized(max_length=1024).setting).peak / 0.85
    fit = assess(job, total)
    assert fit.overrides == {"max_length": 1024}
    assert "(3 of 100 examples get truncated)" in fit.change


def test_a_model_too_big_for_every_change_falls_back_to_a_smaller_family_member():
    setting = Setting(method="lora", device="cuda", dtype="bfloat16", micro_batch=4)
    job = Job(known("Qwen/Qwen2.5-7B-Instruct"), setting, tuple([300] * 20)).sized()
    fit = assess(job, 10 * GIB, qlora=False)
    assert fit.overrides["model"] == "Qwen/Qwen2.5-3B-Instruct"
    assert fit.after is not None and fit.after.peak <= 10 * GIB * 0.95


def test_nothing_fits_says_so():
    job = Job(known("huggyllama/llama-65b"), Setting(device="cuda", dtype="bfloat16"), (512,)).sized()
    fit = assess(job, 4 * GIB, qlora=True)
    assert fit.fits is False and fit.change == "" and "no change tried here makes it fit" in fit.sentence()
    unknown = assess(job, None)
    assert unknown.fits is None and "unknown" in unknown.sentence()


def test_flops_and_gpu_rates():
    smol = known("smollm2")
    lora = Setting(method="lora", micro_batch=1, tokens=1000)
    full = lora.but(method="full")
    # Adapters skip the base weights' gradients: about 4 instead of 6 FLOPs per parameter and token, plus
    # attention's 12 x layers x width x context.
    attention = 12 * smol.layers * smol.q_dim * 1000
    assert step_flops(smol, full) == 1000 * (
        6 * smol.layers * smol.block_linear_parameters
        + 6 * smol.vocab * smol.hidden
        - 2 * smol.vocab * smol.hidden
        + attention
    )
    assert 0.6 < step_flops(smol, lora) / step_flops(smol, full) < 0.8
    assert gpu_tflops("NVIDIA GeForce RTX 4090") == 165.0
    assert gpu_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_tflops("NVIDIA A10G") == 70.0  # not the A10's rate
    assert gpu_tflops("Some Future GPU") == 30.0


def test_a_reference_model_and_eager_attention_cost_what_they_hold():
    qwen = known("Qwen/Qwen2.5-0.5B-Instruct")
    base = Setting(method="full", dtype="bfloat16", device="cuda", micro_batch=1, tokens=1024, longest=1024)
    with_reference = estimate_memory(qwen, base.but(reference_model=True)).parts["weights"]
    assert with_reference == 2 * estimate_memory(qwen, base).parts["weights"]  # DPO's frozen copy
    eager = estimate_memory(qwen, base.but(attention="eager")).parts["activations"]
    sdpa = estimate_memory(qwen, base).parts["activations"]
    # Probabilities and their dropout, per head and pair of tokens, in every block (and one more in backward).
    assert eager - sdpa == 1024 * 2 * 2 * qwen.heads * 1024 * (qwen.layers + 1)
