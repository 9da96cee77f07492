"""Real (non-padding) tokens per second of tunechat's SFT configuration against TRL's defaults.

Same tiny Llama (built here), same length-skewed chat data (most replies short, a few long), same
learning rate, batch size, epochs, seed and max_length; full fine-tuning in both. What differs is
what tunechat chooses for this hardware (trainer/plan/hardware.py): on a CPU fp32 instead of TRL's
default bf16 autocast, no gradient checkpointing (memory is not tight), and padding-free batches
instead of padding every batch to its longest example.

Real tokens = the tokens of the examples (prompt + completion after truncation) x epochs: identical
for both runs, so tokens/s compares the useful work per second. Final loss = mean training loss
over the last 20% of steps (loss on the completions only in both runs).

    python benchmarks/llm_throughput.py                # about a minute or two on 2 cores
    python benchmarks/llm_throughput.py --examples 160 # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = (
    "the a model learns data from small large fast slow token batch step loss rate chat reply user answer "
    "question good bad long short text word train tune test value number simple clear kind word"
).split()


def make_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Length-skewed prompt/completion chats: 88% short replies (4-16 words), 12% long (150-300 words)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        question = " ".join(rng.choices(WORDS, k=rng.randint(4, 10)))
        long = rng.random() < 0.12
        length = rng.randint(150, 300) if long else rng.randint(4, 16)
        # Learnable: the reply cycles through the question's words.
        words = question.split()
        answer = " ".join(words[i % len(words)] for i in range(length))
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "completion": [{"role": "assistant", "content": answer}],
            }
        )
    return rows


def build_model(folder: Path, hidden: int, layers: int) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from trainer.tasks.causal_lm.templates import DEFAULT_CHAT_TEMPLATE

    specials = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator([" ".join(WORDS) + " user assistant"] * 8, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def real_tokens(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> int:
    total = 0
    for row in rows:
        ids = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)
        total += min(len(ids["input_ids"]), max_length)
    return total


def final_loss(history: list[dict[str, Any]]) -> float:
    losses = [row["loss"] for row in history if "loss" in row and "train_loss" not in row]
    tail = losses[-max(1, len(losses) // 5) :]
    return sum(tail) / len(tail)


def run_trl_defaults(model_dir: Path, rows: list, out: Path, common: dict[str, Any]) -> dict[str, Any]:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    # TRL's defaults: only what must match for a fair comparison is set (and no saving, no reporting);
    # use_cpu because TRL's default bf16 refuses to start on a CPU without it.
    args = SFTConfig(
        output_dir=str(out), save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True, **common
    )
    trainer = SFTTrainer(model=str(model_dir), args=args, train_dataset=Dataset.from_list(rows))
    settings = {
        "dtype": "bf16 autocast" if args.bf16 else "fp32",
        "gradient_checkpointing": args.gradient_checkpointing,
        "padding": "to the longest example of each batch" if not args.padding_free else "padding-free",
        "packing": args.packing,
    }
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "steps": trainer.state.global_step, "history": trainer.state.log_history, **settings}


def run_tunechat(model_dir: Path, rows: list, out: Path, common: dict[str, Any]) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.data import pretokenize
    from trainer.tasks.causal_lm.methods import load_causal_lm, parameter_counts
    from trainer.tasks.causal_lm.train import _make_trainer, _trainer_args, plan_choices

    config = resolve_config(
        {
            "task": "sft",
            "method": "full",
            "model": str(model_dir),
            "learning_rate": common["learning_rate"],
            "batch_size": common["per_device_train_batch_size"],
            "epochs": common["num_train_epochs"],
            "max_length": common["max_length"],
            "seed": common["seed"],
            "warmup_ratio": 0.0,
            "weight_decay": 0.0,
            "save_steps": 10**6,  # no checkpoints inside the timed loop, as for the TRL run
        }
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    choice = plan_choices(config, parameters=0)["choice"]
    model = load_causal_lm(config, choice)
    choice = plan_choices(config, parameters=parameter_counts(model)["total"])["choice"]
    train_rows = pretokenize(rows, tokenizer, config.max_length)
    args = _trainer_args(config, choice, out, len(train_rows), False, tokenizer)
    args.logging_steps = common["logging_steps"]
    trainer = _make_trainer(config, model, tokenizer, args, train_rows, [], [])
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    settings = {
        "dtype": choice["dtype"],
        "gradient_checkpointing": choice["gradient_checkpointing"],
        "padding": "padding-free" if choice.get("padding_free") else "padded",
        "attention": choice["attention"],
    }
    return {"seconds": seconds, "steps": trainer.state.global_step, "history": trainer.state.log_history, **settings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=320)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(os.cpu_count() or 1)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = build_model(root / "model", args.hidden, args.layers)
        rows = make_rows(args.examples, args.seed)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        max_length = 1024  # TRL's default, and tunechat's default plan
        tokens = int(real_tokens(rows, tokenizer, max_length) * args.epochs)
        common = {
            "learning_rate": args.lr,
            "per_device_train_batch_size": args.batch_size,
            "num_train_epochs": args.epochs,
            "max_length": max_length,
            "seed": args.seed,
            "logging_steps": 1,
        }
        results = {
            "trl_defaults": run_trl_defaults(model_dir, rows, root / "trl", common),
            "tunechat": run_tunechat(model_dir, rows, root / "tunechat", common),
        }
    report: dict[str, Any] = {
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "cpu_count": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "examples": args.examples,
        "real_tokens": tokens,
        "model": f"Llama hidden {args.hidden}, {args.layers} layers",
    }
    for name, result in results.items():
        history = result.pop("history")
        result["final_loss"] = round(final_loss(history), 4)
        result["tokens_per_s"] = round(tokens / result["seconds"], 1)
        result["seconds"] = round(result["seconds"], 2)
        report[name] = result
    base, ours = report["trl_defaults"], report["tunechat"]
    report["speedup"] = round(ours["tokens_per_s"] / base["tokens_per_s"], 2)
    report["final_loss_difference_pct"] = round(100 * (ours["final_loss"] - base["final_loss"]) / base["final_loss"], 2)
    report["goal_met"] = report["speedup"] >= 1.5 and abs(report["final_loss_difference_pct"]) <= 5
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
