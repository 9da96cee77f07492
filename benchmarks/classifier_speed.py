"""Real tokens per second of tunechat's text-classifier training against the common padding-to-max_length setup.

Same data, same split, same model (the bundled all-MiniLM-L6-v2), same hyperparameters (the ones tunechat's
planner proposes for this file: learning rate, batch size, epochs, max_length), same seed and the same number of
torch threads, one after the other in this process. What differs is only how examples are batched:

  - tunechat: each example tokenized unpadded; batches of similar length (`group_by_length`), each padded only to
    its own longest example (DataCollatorWithPadding); evaluation in inference mode on length-sorted batches.
    These are the very functions a tunechat run uses (trainer/tasks/encoder_run.py, text_classification/model.py).
  - padded: the setup of most fine-tuning tutorials: `tokenizer(..., padding="max_length")`, random batches,
    the default collator, evaluation with `Trainer.predict` on the padded test set.

Real tokens = the non-padding tokens of the training split (after truncation at max_length) x epochs: identical
for both, so real tokens/s compares useful work per second. Macro-F1 is on the held-out test split.

    python benchmarks/classifier_speed.py                              # ../shared/datasets/sms_spam.tsv
    python benchmarks/classifier_speed.py --dataset restaurant_reviews # 1,000 short reviews
    python benchmarks/classifier_speed.py --rows 2000 --epochs 1       # quicker: a stratified sample, one pass
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATASETS = {
    "sms_spam": ROOT.parent / "shared" / "datasets" / "sms_spam.tsv",
    "restaurant_reviews": ROOT.parent / "shared" / "datasets" / "restaurant_reviews.tsv",
}
GOAL_RATIO = 4.0
F1_TOLERANCE = 0.01


class CountingCollator:
    """Wraps a collator and counts the token positions the model is fed (padding included)."""

    def __init__(self, collate: Any):
        self.collate, self.positions = collate, 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.collate(features)
        self.positions += int(batch["input_ids"].numel())
        return batch


def load(path: Path, rows: int, seed: int) -> tuple[Any, list[str], list[str], dict[str, list[int]], dict]:
    """tunechat's plan for the file, and its examples split as a tunechat run splits them."""
    from trainer.data.columns import pick_columns
    from trainer.data.examples import usable_examples
    from trainer.data.read import load_table
    from trainer.data.splits import split_labelled_texts
    from trainer.inspection.report import inspect_file
    from trainer.plan.config import RunConfig
    from trainer.tasks.text_classification import plan

    table = load_table(path)
    columns = pick_columns(table)
    found = usable_examples(table, columns["text_column"], columns["label_column"])
    texts, labels = found.texts, found.labels
    if rows and rows < len(texts):
        # A sample that keeps each class's share, so the planner and the split see the same mix.
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        by_class: dict[str, list[int]] = {}
        for i in order:
            by_class.setdefault(labels[i], []).append(i)
        kept = sorted(i for group in by_class.values() for i in group[: max(1, round(rows * len(group) / len(texts)))])
        texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
    report = inspect_file(path)
    report["usable_rows"] = len(texts)
    proposal = plan.propose({**report, "path": str(path)}, {}, gflops=1.0)
    config = RunConfig(**{**proposal["config"], "seed": seed})
    split = split_labelled_texts(texts, labels, config.val_fraction, config.test_fraction, config.seed)
    return config, split.texts, split.labels, split.splits, proposal


def run(setup: str, config: Any, texts: list[str], labels: list[str], splits: dict[str, list[int]]) -> dict:
    import torch
    from sklearn.metrics import f1_score
    from transformers import DataCollatorWithPadding, Trainer, default_data_collator, set_seed

    from trainer.tasks import encoder_run
    from trainer.tasks.text_classification.model import (
        effective_max_length,
        load_classifier,
        load_tokenizer,
        predict_labels,
    )

    names = sorted(set(labels))
    ids = {label: i for i, label in enumerate(names)}
    set_seed(config.seed)
    tokenizer = load_tokenizer(config)
    model = load_classifier(config, names)
    max_length = effective_max_length(config, tokenizer, model)
    train, test = splits["train"], splits["test"]
    train_texts, train_ids = [texts[i] for i in train], [ids[labels[i]] for i in train]
    unpadded = encoder_run.encode_rows(tokenizer, train_texts, None, train_ids, max_length)
    real_tokens = sum(len(row["input_ids"]) for row in unpadded) * config.epochs

    with tempfile.TemporaryDirectory() as folder:
        args = encoder_run.training_arguments(config, Path(folder), len(train), has_validation=False)
        # Training alone is measured: no checkpoints, no validation passes, in both setups.
        args = dataclasses.replace(args, save_strategy="no", eval_strategy="no", logging_steps=10_000)
        if setup == "tunechat":
            collator = CountingCollator(DataCollatorWithPadding(tokenizer))
            trainer = encoder_run.make_trainer(model, tokenizer, args, unpadded, [], [])
            trainer.data_collator = collator
        else:
            padded = tokenizer(train_texts, truncation=True, max_length=max_length, padding="max_length")
            rows = [{**{k: padded[k][r] for k in padded}, "labels": train_ids[r]} for r in range(len(train))]
            args = dataclasses.replace(args, train_sampling_strategy="random")
            collator = CountingCollator(default_data_collator)
            trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)  # type: ignore[arg-type]
        started, cpu = time.perf_counter(), time.process_time()
        trainer.train()
        train_seconds, train_cpu = time.perf_counter() - started, time.process_time() - cpu

        test_texts, truth = [texts[i] for i in test], [labels[i] for i in test]
        started = time.perf_counter()
        if setup == "tunechat":
            predicted = predict_labels(trainer.model, tokenizer, test_texts, max_length, batch_size=64)  # type: ignore[arg-type]
        else:
            encoded = tokenizer(test_texts, truncation=True, max_length=max_length, padding="max_length")
            rows = [{k: encoded[k][r] for k in encoded} for r in range(len(test))]
            logits = trainer.predict(rows).predictions  # type: ignore[arg-type]
            logits = logits[0] if isinstance(logits, tuple) else logits
            predicted = [names[int(i)] for i in torch.as_tensor(logits).argmax(dim=-1)]
        eval_seconds = time.perf_counter() - started
    return {
        "setup": setup,
        "train_s": train_seconds,
        "train_cpu_s": train_cpu,
        "eval_s": eval_seconds,
        "real_tokens": real_tokens,
        "fed_tokens": collator.positions,
        "tokens_per_s": real_tokens / train_seconds,
        "macro_f1": float(f1_score(truth, predicted, labels=names, average="macro", zero_division=0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="sms_spam")
    parser.add_argument("--data", type=Path, help="Any labelled TSV/CSV instead of a named data set.")
    parser.add_argument("--rows", type=int, default=0, help="A stratified sample of this many rows (0: all).")
    parser.add_argument("--epochs", type=float, help="Passes over the training split (default: tunechat's plan).")
    parser.add_argument("--threads", type=int, help="Torch threads for both (default: as a tunechat run picks).")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from trainer.tasks.encoder_run import training_threads

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    threads = args.threads or training_threads()
    torch.set_num_threads(threads)
    path = args.data or DATASETS[args.dataset]
    config, texts, labels, splits, proposal = load(path, args.rows, args.seed)
    if args.epochs:
        config = dataclasses.replace(config, epochs=args.epochs)
    print(
        f"{path.name}: {len(texts)} examples (train {len(splits['train'])}, test {len(splits['test'])}); "
        f"{config.model}, {config.epochs:g} epochs, batch {config.batch_size}, lr {config.learning_rate:g}, "
        f"max_length {config.max_length} (tunechat's plan: {proposal['reasons']['max_length']}); "
        f"{threads} torch thread(s)"
    )
    results = []
    for setup in ("tunechat", "padded"):
        result = run(setup, config, texts, labels, splits)
        results.append(result)
        print(
            f"  {setup:9s} train {result['train_s']:7.1f} s ({result['train_cpu_s']:7.1f} CPU s)  "
            f"{result['tokens_per_s']:8.0f} real tokens/s  "
            f"({result['fed_tokens']:,} positions fed for {result['real_tokens']:,.0f} real tokens, "
            f"{1 - result['real_tokens'] / max(1, result['fed_tokens']):.0%} padding)  "
            f"eval {result['eval_s']:5.1f} s  macro-F1 {result['macro_f1']:.4f}",
            flush=True,
        )
    ours, theirs = results
    ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
    wall = (theirs["train_s"] + theirs["eval_s"]) / (ours["train_s"] + ours["eval_s"])
    cpu_ratio = theirs["train_cpu_s"] / ours["train_cpu_s"]
    gap = abs(ours["macro_f1"] - theirs["macro_f1"])
    print(
        f"ratio: {ratio:.2f}x real tokens/s in training ({wall:.2f}x wall time with evaluation; goal {GOAL_RATIO:g}x: "
        f"{'met' if ratio >= GOAL_RATIO else 'not met'}); {cpu_ratio:.2f}x in CPU seconds (what other processes on "
        f"the machine do not change); macro-F1 differs by {gap:.4f} "
        f"({'within' if gap <= F1_TOLERANCE else 'outside'} {F1_TOLERANCE})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
