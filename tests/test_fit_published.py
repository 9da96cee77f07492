"""The fit estimator against published and measured peak memory: each row within 25%, each with its source.

Each row models the setting its figure was measured in (batch, sequence length, checkpointing, adapters,
optimizer, what the figure counts). Rows whose setting the source does not state were left out: Unsloth's
VRAM requirement table (no batch size or sequence length, and Unsloth's own kernels), torchtune's full
fine-tuning rows (8-bit paged AdamW fused into the backward pass, which the estimator does not model), its A6000
rows (same recipes as the 4090 rows at nearly twice the memory: a setting the README does not give) and its
multi-GPU rows (sharded). The QLoRA paper's per-part memory breakdown (its Figure 6) is an image whose values
could not be read, so only the figures in its text are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from trainer.plan.fit import Setting, estimate_memory, known

GIB = 2**30
GB = 1e9
BOUND = 0.25

TORCHTUNE = (
    "https://github.com/pytorch/torchtune/blob/0031bfb080bd35ec533c412df883cf2bf7bf7fe4/README.md "
    "(Memory and training speed: Llama 3.1 8B, 1x RTX 4090, batch 2, packed to 2048 tokens, torch.compile; "
    "recipes/configs/llama3_1/8B_lora_single_device.yaml and 8B_qlora_single_device.yaml: bf16, rank 8, "
    "activation checkpointing, chunked cross-entropy; peak memory from torch's allocator)"
)
UNSLOTH = (
    "https://github.com/unslothai/unsloth/blob/000252c947fe9421071216c19fd53e5d0495a1c0/README.md "
    "(context length benchmarks: Llama 3.1 8B Instruct, 4-bit QLoRA on all linear layers, rank 32, batch 1, "
    "sequences padded to the length; the 'Hugging Face + FA2' column is the longest context that fits the card)"
)
QLORA_PAPER = "https://arxiv.org/abs/2305.14314 (Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs)"
QLORA_SCRIPT = "https://github.com/artidoro/qlora/blob/main/scripts/finetune_guanaco_65b.sh"
SMOLLM2 = (
    "benchmarks/llm_memory.py on this 2-core CPU: peak RSS (ru_maxrss, loading included) of AdamW steps of "
    "SmolLM2-135M-Instruct, float32, LoRA r 16 on all linear layers with dropout 0.05, one padding-free micro "
    "batch of the first 8 chats of alpaca_en_demo.json"
)


@dataclass(frozen=True)
class Row:
    source: str
    what: str
    model: str
    setting: Setting
    published: float  # bytes


TUNE = Setting(
    dtype="bfloat16",
    device="cuda",
    micro_batch=2,
    tokens=4096,
    longest=2048,
    gradient_checkpointing=True,
    lora_r=8,
    lora_dropout=0.0,
    adapter_bytes=2,
    chunked_loss=True,
    include_runtime=False,
)
# The HF baseline: PEFT adapters (float32, dropout 0), checkpointing (without it activations alone would exceed
# each card several times over), and TRL's SFTTrainer of the time preparing the 4-bit model with PEFT's
# prepare_model_for_kbit_training, which casts the unquantized weights to float32.
HF_QLORA_8B = Setting(
    method="qlora",
    dtype="bfloat16",
    device="cuda",
    micro_batch=1,
    gradient_checkpointing=True,
    lora_r=32,
    lora_dropout=0.0,
    attention="flash",
    upcast_unquantized=True,
)
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
MLP = "gate_proj,up_proj,down_proj"

ROWS = [
    Row(
        TORCHTUNE,
        "LoRA (q, v, o and MLP), 16.2 GiB",
        LLAMA_8B,
        TUNE.but(method="lora", lora_targets=f"q_proj,v_proj,o_proj,{MLP}"),
        16.2 * GIB,
    ),
    Row(
        TORCHTUNE,
        "QLoRA (q, k, v, o and MLP), 7.4 GiB",
        LLAMA_8B,
        TUNE.but(method="qlora", lora_targets=f"q_proj,k_proj,v_proj,o_proj,{MLP}"),
        7.4 * GIB,
    ),
    *[
        Row(
            UNSLOTH,
            f"{context} tokens fit a {card} GB card",
            LLAMA_8B,
            HF_QLORA_8B.but(tokens=context, longest=context),
            card * GIB,
        )
        for card, context in ((12, 932), (16, 2551), (24, 5789), (40, 12264), (48, 15502), (80, 28454))
    ],
    Row(
        f"{QLORA_PAPER}, abstract: a 65B model finetuned on a single 48GB GPU; setting from {QLORA_SCRIPT} "
        "(batch 4 of at most 16 + 512 tokens, padded; rank 64 on all linear layers, dropout 0.05; adapters in bf16; "
        "gradient checkpointing; paged AdamW with 32-bit states)",
        "Guanaco 65B QLoRA fits 48 GB",
        "huggyllama/llama-65b",
        Setting(
            method="qlora",
            dtype="bfloat16",
            device="cuda",
            micro_batch=4,
            tokens=4 * 528,
            longest=528,
            gradient_checkpointing=True,
            lora_r=64,
            lora_dropout=0.05,
            adapter_bytes=2,
            optimizer_state_bytes=4,
        ),
        48 * GIB,
    ),
    Row(
        f"{QLORA_PAPER}, introduction: 'regular 16-bit finetuning of a LLaMA 65B parameter model requires more than "
        "780 GB of GPU memory' (no setting given: read as 16-bit weights and gradients with 32-bit Adam states, "
        "activations of one short sequence)",
        "16-bit full finetuning of 65B, 780 GB",
        "huggyllama/llama-65b",
        Setting(
            method="full",
            dtype="bfloat16",
            device="cuda",
            micro_batch=1,
            tokens=512,
            longest=512,
            gradient_checkpointing=True,
            optimizer_state_bytes=4,
            include_runtime=False,
        ),
        780 * GB,
    ),
    Row(
        f"{SMOLLM2}; measured 8150 MiB at 1694 tokens (1-minute load 11.9 on 2 cores; the CPU heap factor in "
        "trainer/plan/fit/memory.py is calibrated on this row)",
        "SmolLM2-135M LoRA, 8 chats on this CPU, 8150 MiB",
        "smollm2",
        Setting(method="lora", dtype="float32", device="cpu", micro_batch=8, tokens=1694, longest=442),
        8150 * 2**20,
    ),
    Row(
        f"{SMOLLM2.replace('first 8', 'first 4')}; measured 4769 MiB at 932 tokens (1-minute load 10.7; not used "
        "to calibrate anything)",
        "SmolLM2-135M LoRA, 4 chats on this CPU, 4769 MiB",
        "smollm2",
        Setting(method="lora", dtype="float32", device="cpu", micro_batch=4, tokens=932, longest=442),
        4769 * 2**20,
    ),
]


def errors() -> list[tuple[Row, float, float]]:
    out = []
    for row in ROWS:
        architecture = known(row.model)
        assert architecture is not None, row.model
        estimate = estimate_memory(architecture, row.setting).peak
        out.append((row, estimate, estimate / row.published - 1))
    return out


def test_every_published_row_is_within_25_percent(capsys: pytest.CaptureFixture[str]):
    results = errors()
    with capsys.disabled():
        print()
        for row, estimate, error in results:
            shown = f"estimated {estimate / GIB:7.1f} GiB, published {row.published / GIB:7.1f} GiB"
            print(f"{error:+7.1%}  {shown}: {row.what}")
    assert all(abs(error) <= BOUND for _, _, error in results), [(r.what, f"{e:+.1%}") for r, _, e in results]
    assert all(row.source for row in ROWS)
