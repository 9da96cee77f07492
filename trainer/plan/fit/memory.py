"""Peak memory of one training step of a causal LM, by part, from its architecture and the run's setting.

Arithmetic, not a measurement: weights, gradients and AdamW states follow from the parameter counts and dtypes;
activations from the tokens in the largest micro batch (padding-free batches hold exactly their tokens, padded
ones micro batch x the longest sequence), what each block keeps for the backward pass, and the logits over the
vocabulary, which dominate for small models with large vocabularies. The constants that are not exact bytes
(the runtime's own memory, the share of a block's tensors autograd keeps) were checked against the published
and measured figures in tests/test_fit_published.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from trainer.plan.fit.architecture import Architecture

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# NF4 weights with double-quantized block scales: 4 bits + about 0.127 bits of constants per weight.
NF4_BYTES = 4.127 / 8
# PEFT keeps LoRA adapters in float32 (autocast_adapter_dtype), whatever the base model's dtype.
ADAPTER_BYTES = 4
# CUDA context, cuBLAS workspaces and allocator slack that torch's own counters do not show.
CUDA_RUNTIME_BYTES = 0.75 * 2**30
# Resident memory of a CPU worker after importing torch, transformers, peft and trl, before loading a model:
# 400 MB measured by benchmarks/llm_memory.py.
CPU_RUNTIME_BYTES = 400 * 2**20
# On CPU the peak resident memory exceeds the live activations: tensors of a block's size (below glibc's 32 MB
# mmap threshold) are freed into the heap, which keeps them, so the next allocations do not reuse all of it.
# Calibrated on benchmarks/llm_memory.py (SmolLM2-135M LoRA, 8 alpaca chats of 1694 tokens: 8150 MB peak RSS
# against 4828 MB of live activations and logits), checked on 4 chats.
CPU_HEAP_FACTOR = 1.48
# Per logit kept at the peak of the loss's backward pass beyond the logits themselves: the float32 log-softmax
# output, the gradient flowing into it and the gradient of the logits (transformers upcasts logits to float32).
LOGIT_FLOAT32_COPIES = 3


@dataclass(frozen=True)
class Setting:
    """What the estimate needs to know about a run besides the model's shape."""

    method: str = "lora"  # full, freeze, lora, qlora
    dtype: str = "float32"  # float32, bfloat16, float16
    device: str = "cpu"
    micro_batch: int = 1  # sequences per forward pass
    tokens: int = 512  # tokens in the largest micro batch (micro_batch x length when padded)
    longest: int = 512  # the longest sequence (eager attention keeps a score per pair of its tokens)
    gradient_checkpointing: bool = False
    lora_r: int = 16
    lora_targets: str = "all-linear"
    lora_dropout: float = 0.05
    freeze_layers: int = 0  # freeze: lowest blocks kept frozen (0: half of them, as tunechat does)
    # Bytes per AdamW state value; 0: the trainable parameters' own dtype (what torch.optim.AdamW does).
    optimizer_state_bytes: float = 0
    attention: str = "sdpa"  # sdpa or flash keep no per-pair scores; eager does
    chunked_loss: bool = False  # the loss computed over chunks of the vocabulary projection (torchtune)
    reference_model: bool = False  # a frozen copy of the model (DPO without adapters)
    include_runtime: bool = True  # add the runtime's own memory (False for allocator-only figures)
    # Bytes per LoRA adapter value: PEFT keeps them in float32 (torchtune in the model's dtype).
    adapter_bytes: int = ADAPTER_BYTES
    # QLoRA after PEFT's prepare_model_for_kbit_training (older TRL called it): every weight left out of 4-bit
    # (embeddings, output head, norms) is cast to float32, so the logits are float32 too.
    upcast_unquantized: bool = False

    def but(self, **changes: object) -> Setting:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MemoryEstimate:
    parts: dict[str, float] = field(default_factory=dict)  # bytes by part, in the order a plan shows them
    trainable: int = 0

    @property
    def peak(self) -> float:
        return sum(self.parts.values())

    def describe(self) -> str:
        shown = ", ".join(f"{name} {gib(value)}" for name, value in self.parts.items() if value >= 2**20)
        return f"{gib(self.peak)} ({shown})"


def gib(size: float) -> str:
    return f"{size / 2**30:.1f} GB" if size >= 2**30 * 0.95 else f"{size / 2**20:.0f} MB"


def targets(architecture: Architecture, names: str) -> list[str]:
    """The block's linear layers LoRA adapts: all of them for all-linear, else the named ones that exist."""
    shapes = architecture.linear_shapes()
    if names.strip() in ("", "all-linear"):
        return list(shapes)
    wanted = {name.strip() for name in names.split(",")}
    return [name for name in shapes if name in wanted]


def lora_parameters(architecture: Architecture, setting: Setting) -> int:
    shapes = architecture.linear_shapes()
    per_block = sum(setting.lora_r * (shapes[n][0] + shapes[n][1]) for n in targets(architecture, setting.lora_targets))
    return architecture.layers * per_block


def frozen_blocks(architecture: Architecture, setting: Setting) -> int:
    """Blocks that get no gradient: tunechat's freeze keeps the lowest N (half when 0), at least one trains."""
    if setting.method != "freeze":
        return 0
    wanted = setting.freeze_layers or architecture.layers // 2
    return min(wanted, architecture.layers - 1)


def trainable_parameters(architecture: Architecture, setting: Setting) -> int:
    if setting.method in ("lora", "qlora"):
        return lora_parameters(architecture, setting)
    if setting.method == "freeze":
        blocks = architecture.layers - frozen_blocks(architecture, setting)
        per_block = architecture.block_linear_parameters + 2 * architecture.hidden
        return blocks * per_block + architecture.head_parameters + architecture.hidden
    return architecture.parameters


def block_activation_bytes(architecture: Architecture, setting: Setting) -> float:
    """Bytes one block keeps per token for its backward pass (no checkpointing)."""
    a, s = architecture, DTYPE_BYTES[setting.dtype]
    hidden_states = 2 * a.hidden  # the two norm outputs feeding attention and the MLP
    attention = 2 * (a.q_dim + 2 * a.kv_dim) + 2 * a.q_dim  # q, k, v before and after RoPE; output, o_proj input
    mlp = (4 if a.gated else 2) * a.intermediate  # gate and up outputs, the activation, their product
    kept = s * (hidden_states + attention + mlp) + 4 * 2 * a.hidden  # RMSNorm saves a float32 copy of its input
    if setting.method in ("lora", "qlora"):
        shapes = a.linear_shapes()
        adapted_inputs = sum(shapes[n][0] for n in targets(a, setting.lora_targets))
        # The adapter's first matmul keeps its input for its weight gradient: the dropped-out copy (with a
        # one-byte mask) in the adapter's dtype, or without dropout the input cast to that dtype (a copy only
        # when the dtypes differ).
        if setting.lora_dropout > 0:
            kept += (setting.adapter_bytes + 1) * adapted_inputs
        elif setting.adapter_bytes != s:
            kept += setting.adapter_bytes * adapted_inputs
    if setting.attention == "eager":
        kept += 2 * s * a.heads * setting.longest  # attention probabilities and their dropout
    return kept


def activation_bytes(architecture: Architecture, setting: Setting) -> tuple[float, float]:
    """(bytes the blocks keep, bytes of the logits and loss) at the backward pass's peak."""
    s = DTYPE_BYTES[setting.dtype]
    training_blocks = architecture.layers - frozen_blocks(architecture, setting)
    per_block = block_activation_bytes(architecture, setting)
    if setting.gradient_checkpointing:
        # Only each block's input is kept; one block at a time is recomputed (with its gradients) in backward.
        blocks = training_blocks * s * architecture.hidden + per_block
    else:
        blocks = training_blocks * per_block + per_block  # plus the gradients flowing back through one block
    logit = 4 if setting.method == "qlora" and setting.upcast_unquantized else s
    per_logit = 2 * logit if setting.chunked_loss else logit + 4 * LOGIT_FLOAT32_COPIES
    return setting.tokens * blocks, setting.tokens * architecture.vocab * per_logit


def weight_bytes(architecture: Architecture, setting: Setting) -> float:
    s = DTYPE_BYTES[setting.dtype]
    if setting.method == "qlora":
        linear = architecture.layers * architecture.block_linear_parameters
        rest = 4 if setting.upcast_unquantized else s
        weights = linear * NF4_BYTES + (architecture.parameters - linear) * rest
    else:
        weights = architecture.parameters * s
    if setting.method in ("lora", "qlora"):
        weights += lora_parameters(architecture, setting) * setting.adapter_bytes
    if setting.reference_model:
        weights += architecture.parameters * s
    return weights


def estimate_memory(architecture: Architecture, setting: Setting) -> MemoryEstimate:
    """Peak memory of a training step, by part: weights, gradients, optimizer states, activations, runtime."""
    trainable = trainable_parameters(architecture, setting)
    adapters = setting.method in ("lora", "qlora")
    trainable_bytes = setting.adapter_bytes if adapters else DTYPE_BYTES[setting.dtype]
    state_bytes = setting.optimizer_state_bytes or trainable_bytes
    # The Trainer's default AdamW is the fused one (torch >= 2.8): two states, no copies of them while stepping.
    optimizer = 2 * trainable * state_bytes
    blocks, logits = activation_bytes(architecture, setting)
    runtime = 0.0
    if setting.include_runtime:
        runtime = CUDA_RUNTIME_BYTES if setting.device == "cuda" else CPU_RUNTIME_BYTES
    if setting.device == "cpu":
        blocks, logits = blocks * CPU_HEAP_FACTOR, logits * CPU_HEAP_FACTOR
    parts = {
        "weights": weight_bytes(architecture, setting),
        "gradients": float(trainable * trainable_bytes),
        "optimizer states": float(optimizer),
        "activations": blocks,
        "logits": logits,
        "runtime": runtime,
    }
    return MemoryEstimate(parts=parts, trainable=trainable)
