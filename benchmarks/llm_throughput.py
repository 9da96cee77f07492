"""Real (non-padding) tokens per second of tunechat's SFT configuration against TRL's defaults.

Two comparisons, each in the same process, on the same examples in the same order, with the same
learning rate, batch size, steps, seed and max_length:

- tiny: a tiny Llama built here, synthetic length-skewed chats (most replies short, a few long),
  full fine-tuning in both;
- smollm2: the real SmolLM2-135M-Instruct (the catalog model `smollm2`), LoRA with tunechat's
  defaults in both, on real instructions from ../shared/datasets/alpaca_en_demo.json (lengths
  skewed: most answers a few sentences, a tail of long ones).

What differs is what tunechat chooses for this hardware (trainer/plan/hardware.py): on a CPU fp32
instead of TRL's default bf16 autocast, no gradient checkpointing (memory is not tight), and
padding-free batches instead of padding every batch to its longest example.

Real tokens = the tokens of the examples (prompt + completion after truncation) x epochs: identical
for both runs, so tokens/s compares the useful work per second. Final loss = mean training loss
over the last 20% of steps (loss on the completions only in both runs).

    nice -n 10 python benchmarks/llm_throughput.py               # both, under 10 minutes on 2 idle cores
    nice -n 10 python benchmarks/llm_throughput.py --only tiny   # about a minute or two
    nice -n 10 python benchmarks/llm_throughput.py --only smollm2 --real-examples 32
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


def run_trl_defaults(
    model_dir: Path, rows: list, out: Path, common: dict[str, Any], peft: Any = None
) -> dict[str, Any]:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    # TRL's defaults: only what must match for a fair comparison is set (and no saving, no reporting);
    # use_cpu because TRL's default bf16 refuses to start on a CPU without it.
    args = SFTConfig(
        output_dir=str(out), save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True, **common
    )
    trainer = SFTTrainer(model=str(model_dir), args=args, train_dataset=Dataset.from_list(rows), peft_config=peft)
    settings = {
        "dtype": "bf16 autocast" if args.bf16 else "fp32",
        "gradient_checkpointing": args.gradient_checkpointing,
        "padding": "to the longest example of each batch" if not args.padding_free else "padding-free",
        "packing": args.packing,
    }
    return {**_timed_train(trainer), **settings}


def _timed_train(trainer: Any) -> dict[str, Any]:
    """Train and time it; also the tokens the batches held (padding included), to show how much was padding."""
    from transformers import TrainerCallback

    seen: dict[str, int] = {"batch_tokens": 0}
    original = trainer.training_step

    def counting_step(model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        seen["batch_tokens"] += int(inputs["input_ids"].numel())
        return original(model, inputs, *args, **kwargs)

    trainer.training_step = counting_step
    step_times: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step_times.append(time.perf_counter() - self.started)

    trainer.add_callback(StepClock())
    started, cpu_started = time.perf_counter(), time.process_time()
    trainer.train()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        # CPU time of this process (all its threads): the work done, much less sensitive than wall time to other
        # programs taking turns on a shared machine.
        "cpu_seconds": time.process_time() - cpu_started,
        "steps": trainer.state.global_step,
        "history": trainer.state.log_history,
        "batch_tokens": seen["batch_tokens"],
        "step_seconds": [round(t, 2) for t in step_times],
    }


def run_tunechat(
    model_dir: Path, rows: list, out: Path, common: dict[str, Any], method: str = "full"
) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.data import pretokenize
    from trainer.tasks.causal_lm.methods import load_causal_lm, parameter_counts
    from trainer.tasks.causal_lm.train import _make_trainer, _trainer_args, plan_choices

    config = resolve_config(
        {
            "task": "sft",
            "method": method,
            "model": str(model_dir),
            "learning_rate": common["learning_rate"],
            "batch_size": common["per_device_train_batch_size"],
            "epochs": common["num_train_epochs"],
            "max_length": common["max_length"],
            "max_steps": common.get("max_steps") or 0,
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
    settings = {
        "dtype": choice["dtype"],
        "gradient_checkpointing": choice["gradient_checkpointing"],
        "padding": "padding-free" if choice.get("padding_free") else "padded",
        "attention": choice["attention"],
        "threads": _threads(),
    }
    return {**_timed_train(trainer), **settings}


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def alpaca_rows(path: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` Alpaca instructions drawn with the seed, as prompt/completion chats (the input joined to the instruction)."""
    records = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    chosen = rng.sample(records, min(n, len(records)))
    rows = []
    for record in chosen:
        question = record["instruction"] + (("\n\n" + record["input"]) if record.get("input") else "")
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "completion": [{"role": "assistant", "content": record["output"]}],
            }
        )
    return rows


def compare(
    name: str, model_dir: Path, rows: list, root: Path, common: dict[str, Any], method: str, model: str
) -> dict[str, Any]:
    """Both configurations on the same rows in this process; their figures, the speed-up and the loss gap."""
    from transformers import AutoTokenizer

    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.methods import lora_config

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    epochs = common["num_train_epochs"]
    tokens = real_tokens(rows, tokenizer, common["max_length"])
    lengths = sorted(
        min(
            len(tokenizer.apply_chat_template(r["prompt"] + r["completion"], return_dict=True)["input_ids"]),
            common["max_length"],
        )
        for r in rows
    )
    peft = None
    if method == "lora":
        peft = lora_config(resolve_config({"task": "sft", "method": "lora", "model": str(model_dir)}))
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    results["tunechat"] = run_tunechat(model_dir, rows, root / f"{name}-tunechat", common, method=method)
    print(f"{name} tunechat: {results['tunechat']['seconds']:.1f} s ({_uptime()})", file=sys.stderr, flush=True)
    results["trl_defaults"] = run_trl_defaults(model_dir, rows, root / f"{name}-trl", common, peft=peft)
    print(f"{name} TRL defaults: {results['trl_defaults']['seconds']:.1f} s ({_uptime()})", file=sys.stderr, flush=True)
    report: dict[str, Any] = {
        "model": model,
        "method": method,
        "examples": len(rows),
        "token_lengths": {"min": lengths[0], "median": lengths[len(lengths) // 2], "max": lengths[-1]},
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    for key, result in results.items():
        history = result.pop("history")
        # Real tokens: the examples' own tokens (after truncation) over whole epochs: the same for both runs.
        done = tokens * epochs
        result["real_tokens"] = int(done)
        result["final_loss"] = round(final_loss(history), 4)
        result["tokens_per_s"] = round(done / result["seconds"], 1)
        result["seconds"] = round(result["seconds"], 2)
        result["tokens_per_cpu_s"] = round(done / result["cpu_seconds"], 1)
        result["cpu_seconds"] = round(result["cpu_seconds"], 2)
        result["padding_share"] = round(1 - done / max(1, result["batch_tokens"]), 3)
        report[key] = result
    base, ours = report["trl_defaults"], report["tunechat"]
    report["speedup"] = round(ours["tokens_per_s"] / base["tokens_per_s"], 2)
    report["speedup_cpu_time"] = round(ours["tokens_per_cpu_s"] / base["tokens_per_cpu_s"], 2)
    report["final_loss_difference_pct"] = round(100 * (ours["final_loss"] - base["final_loss"]) / base["final_loss"], 2)
    report["goal_met"] = report["speedup"] >= 2.0 and abs(report["final_loss_difference_pct"]) <= 5
    return report


def tiny(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    model_dir = build_model(root / "model", args.hidden, args.layers)
    rows = make_rows(args.examples, args.seed)
    common = {
        "learning_rate": args.lr,
        "per_device_train_batch_size": args.batch_size,
        "num_train_epochs": args.epochs,
        "max_length": 1024,  # TRL's default, and tunechat's default plan
        "seed": args.seed,
        "logging_steps": 1,
    }
    model = f"Llama hidden {args.hidden}, {args.layers} layers"
    return compare("tiny", model_dir, rows, root, common, "full", model)


def smollm2(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from trainer.core.workspace import workspace_root
    from trainer.models.catalog import resolve

    model_dir = Path(resolve("smollm2", workspace_root()))
    rows = alpaca_rows(args.alpaca, args.real_examples, args.seed)
    # Whole epochs over the same rows; tunechat's LoRA plan rate (2e-4), its plan's batch size and max length.
    common = {
        "learning_rate": 2e-4,
        "per_device_train_batch_size": args.batch_size,
        "num_train_epochs": 1.0,
        "max_length": 1024,
        "seed": args.seed,
        "logging_steps": 1,
    }
    return compare("smollm2", model_dir, rows, root, common, "lora", "SmolLM2-135M-Instruct")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("tiny", "smollm2"), help="run one comparison only")
    parser.add_argument("--examples", type=int, default=320, help="synthetic chats for the tiny model")
    parser.add_argument("--epochs", type=float, default=1.0, help="epochs for the tiny model")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate for the tiny model")
    parser.add_argument("--real-examples", type=int, default=48, help="Alpaca rows for SmolLM2 (one epoch)")
    parser.add_argument(
        "--alpaca",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "datasets" / "alpaca_en_demo.json",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(os.cpu_count() or 1)
    report: dict[str, Any] = {
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "cpu_count": os.cpu_count(),
        "uptime_before": _uptime(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.only in (None, "tiny"):
            report["tiny"] = tiny(args, root)
            print(json.dumps(report["tiny"], indent=2), flush=True)
        if args.only in (None, "smollm2"):
            report["smollm2"] = smollm2(args, root)
    report["uptime_after"] = _uptime()
    text = json.dumps(report, indent=2)
    print(text)
    for name in ("tiny", "smollm2"):
        if name in report:
            part = report[name]
            print(
                f"{name}: tunechat {part['tunechat']['tokens_per_s']} real tokens/s, TRL defaults "
                f"{part['trl_defaults']['tokens_per_s']}: {part['speedup']}x "
                f"(by CPU time {part['speedup_cpu_time']}x); final loss "
                f"{part['tunechat']['final_loss']} vs {part['trl_defaults']['final_loss']} "
                f"({part['final_loss_difference_pct']:+}%)"
            )
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


def _uptime() -> str:
    try:
        import subprocess

        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


if __name__ == "__main__":
    sys.exit(main())
