"""Wall time of a causal-LM run from its FLOPs: an estimate, stated as one, never a promise.

Training a token costs about 2 FLOPs per matmul parameter forward and 4 backward (input and weight gradients);
adapters and frozen blocks skip the weight gradients of the base model, checkpointing recomputes the forward
pass, and attention adds 12 x layers x width x context. The FLOPs are divided by this machine's throughput: on
CPU the float32 matmul rate it measures (trainer/tasks/text_classification/plan.py machine_gflops) times a factor
calibrated on a real SmolLM2-135M LoRA step (benchmarks/llm_memory.py); on CUDA the GPU's published dense
bf16/fp16 rate times a utilisation typical of Hugging Face training loops.
"""

from __future__ import annotations

from trainer.plan.fit.architecture import Architecture
from trainer.plan.fit.memory import Setting, frozen_blocks

# Achieved FLOP/s of a SmolLM2-135M LoRA step (float32, padding-free, 8 alpaca chats, 1694 tokens) over the
# matmul probe's rate, measured on this 2-core CPU by benchmarks/llm_memory.py: 2.7 against 16.2 GFLOP/s, with
# the machine shared (load 12; 0.16 on 4 chats at load 11); re-measure on an idle machine.
CPU_EFFICIENCY = 0.17
# Share of a GPU's peak tensor throughput a transformers/TRL loop reaches on LoRA fine-tuning (no compile).
CUDA_UTILISATION = 0.35
# 4-bit weights are de-quantised in every matmul: QLoRA steps are slower than LoRA's.
QLORA_SLOWDOWN = 1.4
# Dense bf16/fp16 tensor TFLOPs (without sparsity) by GPU name, from NVIDIA's data sheets; the longest matching
# name wins, and an unknown GPU gets the last entry's conservative rate.
GPU_TFLOPS = (
    ("H200", 989.0),
    ("H100", 756.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("A6000", 155.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("L4", 121.0),
    ("4090", 165.0),
    ("4080", 97.0),
    ("3090", 71.0),
    ("3080", 60.0),
    ("V100", 125.0),
    ("T4", 65.0),
)
UNKNOWN_GPU_TFLOPS = 30.0
# Fixed cost of a run: starting the worker, loading the model, sample generations before and after, saving.
OVERHEAD_SECONDS = {"cpu": 60.0, "cuda": 90.0}


def gpu_tflops(name: str) -> float:
    matches = [(len(key), tflops) for key, tflops in GPU_TFLOPS if key.lower() in name.lower()]
    return max(matches)[1] if matches else UNKNOWN_GPU_TFLOPS


def token_flops(architecture: Architecture, setting: Setting, context: float) -> float:
    """Training FLOPs per token: forward, backward (and recompute) over the blocks, the head and attention."""
    a = architecture
    block = a.block_linear_parameters
    blocks_trained = a.layers - frozen_blocks(a, setting)
    forward = 2 * (a.layers * block + a.vocab * a.hidden) + 4 * a.layers * a.q_dim * context
    # Backward: input gradients through every block that has a trainable block below or in it, weight gradients
    # only for trained base weights (none under adapters).
    backward_inputs = 2 * (blocks_trained * block + a.vocab * a.hidden) + 8 * blocks_trained * a.q_dim * context
    weight_grads = 0.0 if setting.method in ("lora", "qlora") else 2 * blocks_trained * block
    recompute = 2 * blocks_trained * block if setting.gradient_checkpointing else 0.0
    return forward + backward_inputs + weight_grads + recompute


def step_flops(architecture: Architecture, setting: Setting) -> float:
    """FLOPs of one micro batch (context: the mean sequence length of the batch)."""
    context = setting.tokens / max(1, setting.micro_batch)
    return setting.tokens * token_flops(architecture, setting, context)


def throughput(device: str, *, gflops: float = 0.0, gpu_name: str = "", gpus: int = 1) -> float:
    """FLOP/s this machine reaches on training: CPU from the measured matmul rate, CUDA from the GPU's table rate."""
    if device == "cuda":
        return gpu_tflops(gpu_name) * 1e12 * CUDA_UTILISATION * max(1, gpus)
    return max(gflops, 1.0) * 1e9 * CPU_EFFICIENCY


def estimate_seconds(
    architecture: Architecture,
    setting: Setting,
    *,
    train_tokens: float,
    eval_tokens: float,
    flops_per_second: float,
) -> float:
    """Wall-clock estimate: training tokens x FLOPs per token, evaluation at 2 FLOPs per parameter, plus overhead."""
    context = setting.tokens / max(1, setting.micro_batch)
    train = train_tokens * token_flops(architecture, setting, context)
    evaluation = eval_tokens * 2 * architecture.matmul_parameters
    slowdown = QLORA_SLOWDOWN if setting.method == "qlora" else 1.0
    return OVERHEAD_SECONDS.get(setting.device, 60.0) + slowdown * (train + evaluation) / flops_per_second
