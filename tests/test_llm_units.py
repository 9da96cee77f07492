"""Pieces of the causal-LM path checked directly: padding-free batches give the same loss as padded ones,
pretokenize masks only assistant tokens, checkpoints count only once marked complete, OOM advice."""

from __future__ import annotations

from pathlib import Path

import torch

from trainer.plan.config import resolve_config
from trainer.tasks.causal_lm.checkpoints import MARKER, latest_complete, remove_incomplete
from trainer.tasks.causal_lm.data import pretokenize
from trainer.tasks.guards import is_out_of_memory, oom_message

CHATS = [
    {"messages": [{"role": "user", "content": "what color is the sky"}, {"role": "assistant", "content": "blue"}]},
    {
        "messages": [
            {"role": "system", "content": "answer briefly"},
            {"role": "user", "content": "what do bees make"},
            {"role": "assistant", "content": "bees make honey"},
            {"role": "user", "content": "what color is snow"},
            {"role": "assistant", "content": "snow is white"},
        ]
    },
    {
        "prompt": [{"role": "user", "content": "where do fish live"}],
        "completion": [{"role": "assistant", "content": "fish live in water"}],
    },
]


def test_pretokenize_masks_assistant_replies_and_truncates(tiny_llm: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    rows = pretokenize(CHATS, tokenizer, max_length=512)
    assert len(rows) == 3
    for row in rows:
        trained = tokenizer.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m])
        assert "user" not in trained and "<|im_start|>" not in trained
    second = tokenizer.decode([t for t, m in zip(rows[1]["input_ids"], rows[1]["assistant_masks"], strict=True) if m])
    assert second == "bees make honey<|im_end|>snow is white<|im_end|>"  # both replies, with their stop token
    short = pretokenize(CHATS, tokenizer, max_length=8)
    assert all(len(row["input_ids"]) <= 8 for row in short) and len(short) < 3  # replies cut off: dropped


def test_padding_free_batches_compute_the_same_loss_as_padded_ones(tiny_llm: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm, use_safetensors=True, attn_implementation="sdpa").eval()
    rows = [
        {
            "input_ids": r["input_ids"],
            "labels": [t if m else -100 for t, m in zip(r["input_ids"], r["assistant_masks"], strict=True)],
        }
        for r in pretokenize(CHATS, tokenizer, 512)
    ]
    padded = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(rows)
    flat = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(rows)
    assert flat["input_ids"].shape[0] == 1 and tokenizer.pad_token_id not in flat["input_ids"].tolist()[0]
    with torch.no_grad():
        loss_padded = model(**padded, use_cache=False).loss
        # use_cache=False as SFTTrainer.compute_loss passes it: only then does transformers read the packed
        # positions into a block-diagonal mask (with a cache it would let examples attend to each other).
        keep = ("input_ids", "labels", "position_ids")
        loss_flat = model(**{k: v for k, v in flat.items() if k in keep}, use_cache=False).loss
    assert torch.allclose(loss_padded, loss_flat, atol=1e-5), (loss_padded, loss_flat)


def test_only_checkpoints_marked_complete_count(tmp_path: Path):
    for step, complete in ((5, True), (10, True), (15, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if complete:
            (folder / MARKER).write_text("{}")
    assert latest_complete(tmp_path) == (10, tmp_path / "checkpoint-10")
    assert remove_incomplete(tmp_path) == ["checkpoint-15"] and not (tmp_path / "checkpoint-15").exists()


def test_out_of_memory_becomes_concrete_suggestions():
    config = resolve_config({"task": "sft", "method": "full", "batch_size": 16, "max_length": 2048})
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(ValueError("bad value"))
    message = oom_message(config, "cuda")
    assert "batch_size 8 with gradient_accumulation_steps 2" in message and "max_length 1024" in message
    assert "gradient_checkpointing on" in message and "method lora or qlora" in message
    assert message.count(".") == 1  # one sentence
