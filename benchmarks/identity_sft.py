"""The identity SFT a user runs on a laptop CPU: identity.json with {{name}} -> Nova and {{author}} -> Acme.

Plans the run the way the chat does (the small-data defaults, the placeholder values, "Who are you?" among the
sample prompts), trains it in this process (so `nice` applies to it) in a fresh workspace, then prints the wall
time of the whole run (load, samples before, training, evaluation, samples after, save), the load average
before and after, the answers to "Who are you?" before and after training, from samples.json, the base model
against the tuned one on the held-out chats, and the forgetting check's figures (general-text perplexity, next-token
KL, general questions) with its verdict and remedy (evaluation.json).

    nice -n 10 python benchmarks/identity_sft.py [--data identity.json] [--model FOLDER] [--set key=value ...]

The data defaults to /work/shared/datasets/identity.json and the model to ~/.tunechat/models/smollm2 (made by
`tunechat models pull smollm2`). `--set epochs=3` (repeatable) overrides a planned setting; `--keep DIR` keeps the
workspace (e.g. to `tunechat serve` the run from it with TUNECHAT_HOME=DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/datasets/identity.json")
    parser.add_argument("--model", default=str(Path.home() / ".tunechat" / "models" / "smollm2"))
    parser.add_argument("--name", default="Nova")
    parser.add_argument("--author", default="Acme")
    parser.add_argument("--set", action="append", default=[], help="key=value: override a planned setting")
    parser.add_argument("--keep", help="keep the workspace in this folder")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: every core); 1 is faster when other jobs keep the cores busy",
    )
    args = parser.parse_args()
    if args.threads:
        # The worker sizes torch's thread pool by os.cpu_count(); on a busy machine two threads mostly wait for
        # each other, so a loaded measurement may ask for fewer.
        os.cpu_count = lambda: args.threads  # type: ignore[assignment]

    home = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="identity-sft-"))
    os.environ["TUNECHAT_HOME"] = str(home)
    started = time.monotonic()
    from trainer.backends import local
    from trainer.core.workspace import Workspace
    from trainer.plan.config import resolve_config
    from trainer.store.registry import Registry
    from trainer.tasks.base import PlanRequest
    from trainer.tasks.causal_lm.train import train_llm_run
    from trainer.tasks.registry import get_task

    ws = Workspace(home)
    registry = Registry(ws.db_path)
    data = ws.import_file(Path(args.data))
    settings = {"model": args.model, "placeholders": {"name": args.name, "author": args.author}}
    plan = get_task("sft").propose(PlanRequest(data, settings))
    overrides = dict(item.split("=", 1) for item in args.set)
    config = resolve_config(plan.config, overrides)
    shown = {k: getattr(config, k) for k in ("epochs", "learning_rate", "batch_size", "lora_r", "lora_target_modules")}
    print(f"plan: {json.dumps(shown)}; load average before: {load_average()}", flush=True)
    run_id = local.create_run(ws, registry, config)
    result = train_llm_run(ws.run_dir(run_id), registry, run_id)
    wall = time.monotonic() - started
    samples = json.loads((ws.run_dir(run_id) / "samples.json").read_text(encoding="utf-8"))
    print(f"status {result['status']}; wall time {wall:.0f} s; load average after: {load_average()}")
    print(f"metrics: {json.dumps(result.get('metrics'))}")
    for prompt, before, after in zip(samples["prompts"], samples["before"], samples["after"], strict=False):
        print(f"- {prompt[-1]['content']!r}\n    before: {before!r}\n    after:  {after!r}")
    evaluation = json.loads((ws.run_dir(run_id) / "evaluation.json").read_text(encoding="utf-8"))
    from ui.render.answers import render_base_vs_tuned

    print(render_base_vs_tuned(evaluation))
    forgetting = evaluation.get("forgetting")
    if forgetting:
        shown = ("perplexity_before", "perplexity_after", "perplexity_rise", "kl_mean", "kl_max")
        print("forgetting: " + json.dumps({k: forgetting.get(k) for k in shown}))
        print(
            f"  general questions right: {forgetting['right_before']} -> {forgetting['right_after']} "
            f"of {forgetting['questions']}; lost: {forgetting['lost']}; gained: {forgetting['gained']}"
        )
        print(f"  flagged: {forgetting['flagged']} ({', '.join(forgetting['crossed'])}): {forgetting['sentence']}")
        if forgetting.get("remedy"):
            print(f"  remedy: {json.dumps(forgetting['remedy'])}")
    print(f"run folder: {ws.run_dir(run_id)}")
    return 0 if result["status"] == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
