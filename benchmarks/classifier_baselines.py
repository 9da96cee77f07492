"""A fine-tuned text classifier against its zero-training baselines (the majority class and a logistic-regression
probe on the frozen pretrained encoder), with the planner's default plan and with settings the user names.

The runs go through tunechat's own path in a temporary workspace: the planner (with its push-back on the user's
settings), a run folder, the training function the worker calls, evaluation.json and the report the chat shows.

    python benchmarks/classifier_baselines.py                      # first 200 restaurant reviews: default, 2 epochs
    python benchmarks/classifier_baselines.py --rows 1000 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REVIEWS = ROOT.parent / "shared" / "datasets" / "restaurant_reviews.tsv"


def run_once(ctx: Any, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Plan (as the chat would), train in this process, and return the evaluation with the plan's warnings."""
    from tools.data_tools import plan_training
    from trainer.backends import local
    from trainer.core.fileio import read_json
    from trainer.plan.config import resolve_config
    from trainer.tasks.text_classification.train import train_run

    plan = plan_training(ctx, name, **settings)
    config = resolve_config(plan.config)
    run_id = local.create_run(ctx.workspace, ctx.registry, config)
    started = time.perf_counter()
    result = train_run(ctx.workspace.run_dir(run_id), ctx.registry, run_id)
    if result["status"] != "succeeded":
        raise SystemExit(f"run {run_id} {result['status']}")
    evaluation = dict(read_json(ctx.workspace.run_dir(run_id) / "evaluation.json"))
    return {
        "run_id": run_id,
        "config": config,
        "warnings": plan.extra.get("warnings") or [],
        "wall": time.perf_counter() - started,
        "evaluation": evaluation,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200, help="The first this many reviews (the file has 1,000).")
    parser.add_argument("--epochs", type=float, default=2, help="The epochs of the second run, the user's setting.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        os.environ["TUNECHAT_HOME"] = folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from tools.context import ToolContext
        from ui.render.runs import render_evaluation

        ctx = ToolContext.from_env(session_id="baselines")
        data = Path(folder) / "restaurant_reviews.tsv"
        lines = REVIEWS.read_text(encoding="utf-8").splitlines()
        data.write_text("\n".join(lines[: args.rows + 1]) + "\n", encoding="utf-8")
        name = ctx.workspace.import_file(data, session_id="baselines").name
        for title, settings in (("default plan", {}), (f"epochs={args.epochs:g}", {"epochs": args.epochs})):
            done = run_once(ctx, name, settings)
            evaluation, config = done["evaluation"], done["config"]
            probe = evaluation.get("linear_probe") or {}
            print(
                f"\n== {title}: {config.epochs:g} epochs, lr {config.learning_rate:g}, batch {config.batch_size}, "
                f"patience {config.early_stopping_patience}; train {evaluation['train_size']}, test "
                f"{evaluation['test_size']}; run {done['wall']:.0f} s (training {evaluation['train_seconds']} s, "
                f"probe {probe.get('seconds')} s)"
            )
            for warning in done["warnings"]:
                print(f"push-back: {warning['sentence']}")
            print(
                f"fine-tune macro-F1 {evaluation['macro_f1']:.3f} (accuracy {evaluation['accuracy']:.3f}); "
                f"probe {probe.get('macro_f1', float('nan')):.3f} ({probe.get('accuracy', float('nan')):.3f}); "
                f"majority {evaluation['baseline']['macro_f1']:.3f} ({evaluation['baseline']['accuracy']:.3f})"
            )
            print(render_evaluation({**evaluation, "run_id": done["run_id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
