"""Training speed and the error reached by tunechat's text regression, against always predicting the training mean.

There is no regression data set in ../shared/datasets, so one is derived here, honestly: the texts of the SMS spam
set (../shared/datasets/sms_spam.tsv) with, as the number to predict, how many digits each message holds (phone
numbers, prices, codes; 0 for most messages, over 20 for some spam). It is a real property of the text that a model
has to read to know: the tokenizer splits numbers into pieces of one to several digits, so the count is not simply
the number of tokens, and the message's length alone predicts it poorly. Nothing else about the label is used.

The run goes through tunechat's own path in a temporary workspace: the regression task's planner (its defaults, with
the column named), a run folder, the same training function the worker calls, evaluation.json.

    python benchmarks/regression.py                # the whole SMS set with the planner's epochs
    python benchmarks/regression.py --rows 2000    # a sample of 2,000 messages: quicker
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SMS = ROOT.parent / "shared" / "datasets" / "sms_spam.tsv"


def derive(source: Path, target: Path, rows: int, seed: int) -> int:
    """Write `text,digits` rows from the SMS texts (a seeded sample of `rows`, 0 for all); return how many."""
    with source.open(encoding="utf-8", newline="") as handle:
        texts = [row["SMS"] for row in csv.DictReader(handle, delimiter="\t") if row.get("SMS", "").strip()]
    if rows and rows < len(texts):
        texts = random.Random(seed).sample(texts, rows)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "digits"])
        writer.writerows([text, sum(character.isdigit() for character in text)] for text in texts)
    return len(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=0, help="A sample of this many messages (0: all 5,574).")
    parser.add_argument("--epochs", type=float, help="Passes over the training split (default: the planner's).")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        os.environ["TUNECHAT_HOME"] = folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from trainer.backends import local
        from trainer.core.fileio import read_json
        from trainer.core.workspace import Workspace
        from trainer.plan.config import resolve_config
        from trainer.store.registry import Registry
        from trainer.tasks.base import PlanRequest
        from trainer.tasks.registry import get_task
        from trainer.tasks.text_regression.train import train_run

        ws = Workspace.from_env()
        registry = Registry(ws.db_path)
        data = Path(folder) / "sms_digits.csv"
        count = derive(SMS, data, args.rows, args.seed)
        uploaded = ws.import_file(data)
        settings: dict[str, object] = {"text_column": "text", "label_column": "digits"}
        if args.epochs:
            settings["epochs"] = args.epochs
        plan = get_task("text-regression").propose(PlanRequest(uploaded, settings, cache_dir=ws.root))
        config = resolve_config(plan.config)
        print(
            f"{count} SMS texts, target = digits per message; {config.model}, {config.epochs:g} epochs, batch "
            f"{config.batch_size}, lr {config.learning_rate:g}, max_length {config.max_length}; "
            f"planner's estimate {plan.estimate_seconds or 0:.0f} s",
            flush=True,
        )
        run_id = local.create_run(ws, registry, config)
        started = time.perf_counter()
        result = train_run(ws.run_dir(run_id), registry, run_id)
        wall = time.perf_counter() - started
        evaluation = read_json(ws.run_dir(run_id) / "evaluation.json")

    if result["status"] != "succeeded":
        print(f"run {result['status']}")
        return 1
    examples = evaluation["train_size"] * config.epochs
    baseline = evaluation["baseline"]
    print(
        f"training: {examples:,.0f} examples in {evaluation['train_seconds']:.1f} s = "
        f"{examples / evaluation['train_seconds']:.1f} examples/s (whole run {wall:.0f} s with loading and evaluation)"
    )
    print(
        f"test ({evaluation['test_size']} messages): RMSE {evaluation['rmse']:.3f}, MAE {evaluation['mae']:.3f}, "
        f"R² {evaluation['r2']:.3f}, Spearman {evaluation['spearman']:.3f}, Pearson {evaluation['pearson']:.3f}"
    )
    print(
        f"baseline (always the training mean, {baseline['prediction']:.2f} digits): RMSE {baseline['rmse']:.3f}, "
        f"MAE {baseline['mae']:.3f}, R² {baseline['r2']:.3f}; the model's RMSE is "
        f"{evaluation['rmse'] / baseline['rmse']:.0%} of the baseline's"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
