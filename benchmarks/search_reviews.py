"""Does a hyperparameter search beat the default plan? 200 restaurant reviews, MiniLM, the same test split.

The first 200 rows (or, with --sample-seed, a seeded sample) of ../shared/datasets/restaurant_reviews.tsv (500 liked,
500 not in all) go through
tunechat's own paths in a temporary workspace: the default plan (the planner's settings, `tunechat train`'s run),
then a search (`tunechat search`'s study: the plan's settings as its first trial, then the task's space, the median
pruner), every trial a real run. The search picks its best trial on the validation split only; both are then
compared on the test split, which is the same rows in every run (the same data and seed; checked below from each
run's splits/test.jsonl).

    nice -n 10 python benchmarks/search_reviews.py                  # the first 200 rows, 10 trials
    nice -n 10 python benchmarks/search_reviews.py --sample-seed 42 --trials 6 --minutes 20
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
REVIEWS = ROOT.parent / "shared" / "datasets" / "restaurant_reviews.tsv"


def sample(source: Path, target: Path, rows: int, seed: int | None) -> int:
    """Write the first `rows` reviews, or a sample seeded by `seed` (columns as in the source); return how many."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header, *body = list(reader)
    body = [row for row in body if len(row) == 2 and row[0].strip()]
    chosen = body[:rows] if seed is None else random.Random(seed).sample(body, min(rows, len(body)))
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(chosen)
    return len(chosen)


def wait(ws: object, registry: object, run_id: int) -> dict:
    from trainer.backends import runs
    from trainer.store.registry import FINISHED

    while True:
        status = runs.run_status(ws, registry, run_id)  # type: ignore[arg-type]
        if status["status"] in FINISHED:
            return dict(status)
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=None, help="A time budget for the search as well.")
    parser.add_argument(
        "--sample-seed", type=int, help="A seeded sample instead of the first rows (runs keep seed 42)."
    )
    parser.add_argument("--keep", help="Keep the workspace in this folder instead of a temporary one.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or scratch
        os.environ["TUNECHAT_HOME"] = folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from tools.context import ToolContext
        from tools.data_tools import plan_training
        from tools.launch import launch_plan
        from tools.search_tools import search_settings
        from trainer.search.study import run_study

        ctx = ToolContext.from_env(allow_any_model_path=True)
        data = Path(scratch) / "reviews_200.tsv"
        count = sample(REVIEWS, data, args.rows, args.sample_seed)
        uploaded = ctx.workspace.import_file(data)

        plan = plan_training(ctx, uploaded.name).to_dict()
        config = plan["config"]
        print(
            f"{count} reviews; default plan: {config['model']}, {config['epochs']:g} epochs, "
            f"lr {config['learning_rate']:g}, batch {config['batch_size']}, max_length {config['max_length']}, "
            f"seed {config['seed']}",
            flush=True,
        )
        started = time.monotonic()
        default_id = int(launch_plan(ctx, config)["run_id"])
        default = wait(ctx.workspace, ctx.registry, default_id)
        if default["status"] != "succeeded":
            raise SystemExit(f"the default run {default['status']}: {default.get('error')}")
        default_f1 = float(ctx.registry.get_run(default_id).metrics["macro_f1"])  # type: ignore[index]
        print(f"default plan (run {default_id}): test macro-F1 {default_f1:.3f} in {time.monotonic() - started:.0f} s")

        settings = search_settings(ctx, uploaded.name, trials=args.trials, minutes=args.minutes)
        ctx.registry.create_study("reviews", settings)
        started = time.monotonic()

        def progress(event: dict) -> None:
            if event["event"] == "trial_started":
                shown = ", ".join(
                    f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in event["params"].items()
                )
                print(f"  trial {event['trial']} (run {event['run_id']}): {shown}", flush=True)
            if event["event"] in ("trial_finished", "trial_pruned", "trial_failed"):
                value = event.get("value")
                shown = f"validation macro-F1 {value:.3f}" if isinstance(value, float) else event.get("error", "")
                test = (ctx.registry.get_run(event["run_id"]).metrics or {}).get("macro_f1")
                tested = f", test macro-F1 {test:.3f}" if isinstance(test, float) else ""
                print(f"    {event['event'][6:]}: {shown}{tested}", flush=True)

        result = run_study(
            ctx.workspace,
            ctx.registry,
            "reviews",
            lambda c, registered: int(launch_plan(ctx, c, registered=registered)["run_id"]),
            progress,
        )
        seconds = time.monotonic() - started
        best = result["best"]
        best_run = ctx.registry.get_run(int(best["run_id"]))
        best_f1 = float(best_run.metrics["macro_f1"])  # type: ignore[index]
        same_split = all(
            (ctx.workspace.run_dir(run_id) / "splits" / "test.jsonl").read_bytes()
            == (ctx.workspace.run_dir(default_id) / "splits" / "test.jsonl").read_bytes()
            for run_id in (int(best["run_id"]),)
        )
        test_rows = len((ctx.workspace.run_dir(default_id) / "splits" / "test.jsonl").read_text().splitlines())
        states = [row["state"] for row in result["trials"]]
        print(
            f"search: {len(states)} trials ({states.count('complete')} complete, {states.count('pruned')} pruned, "
            f"{states.count('fail')} failed) in {seconds:.0f} s"
        )
        shown = {key: best["config"][key] for key in best["params"]}
        print(f"best trial {best['trial']} (run {best['run_id']}): {shown}")
        print(f"  validation macro-F1 {best['value']:.3f}; test macro-F1 {best_f1:.3f}")
        print(f"same test split ({test_rows} rows) as the default run: {same_split}")
        print(
            f"test macro-F1, best trial / default plan: {best_f1:.3f} / {default_f1:.3f} "
            f"= {best_f1 / max(default_f1, 1e-9):.2f}"
        )
        print(f"plot: {result['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
