"""A tiny causal LM and a byte-level BPE tokenizer with a chat template, both made here (no downloads).

Import the fixtures into a test module (`from llm_fixtures import tiny_llm, chat_jsonl, pairs_jsonl`);
the model folder is built once per session and loads like any local Hugging Face model.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

# A learnable toy task: each question has one fixed answer.
FACTS = [
    ("what color is the sky", "the sky is blue"),
    ("what color is grass", "grass is green"),
    ("what do cows drink", "cows drink water"),
    ("how many legs has a cat", "a cat has four legs"),
    ("what is two plus two", "two plus two is four"),
    ("where do fish live", "fish live in water"),
    ("what color is snow", "snow is white"),
    ("what do bees make", "bees make honey"),
]
WRONG = ["i do not know", "the moon is cheese", "no idea at all", "purple elephants"]


def chat_rows(n: int = 48, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question, answer = FACTS[i % len(FACTS)]
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if rng.random() < 0.3:
            messages.insert(0, {"role": "system", "content": "answer briefly"})
        rows.append({"messages": messages})
    return rows


def pair_rows(n: int = 32, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question, answer = FACTS[i % len(FACTS)]
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": answer}],
                "rejected": [{"role": "assistant", "content": rng.choice(WRONG)}],
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def build_tiny_llm(folder: Path, *, nan_weights: bool = False) -> Path:
    """A 2-layer Llama (hidden 32) and a BPE tokenizer trained on the toy task, saved as safetensors."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from trainer.tasks.causal_lm.templates import DEFAULT_CHAT_TEMPLATE

    specials = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    corpus = [f"{q} {a} {w} user assistant system answer briefly" for (q, a), w in zip(FACTS, WRONG * 2, strict=False)]
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(corpus * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
        # Larger than the 0.02 default so the frozen output head can express the answers LoRA learns.
        initializer_range=0.2,
    )
    model = LlamaForCausalLM(config)
    if nan_weights:
        with torch.no_grad():
            model.lm_head.weight[0, 0] = float("nan")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture
def chat_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "chat.jsonl", chat_rows())


@pytest.fixture
def pairs_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", pair_rows())
