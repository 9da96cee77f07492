"""The training process of a local run: `python -m trainer.backends.worker RUN_DIR --db DB --run-id N [--resume]`.

It asks the run's task (config.json names it) to train; under `accelerate launch` one runs per GPU.
`python -m trainer.backends.worker SCRATCH_DIR --dry-run` tries a plan instead (trainer/backends/dry_run.py):
the same process, niceness and environment as a real run, but no registry and no run.
Exit codes: 0 succeeded, 1 failed, 143 stopped by SIGTERM (a resumable task saved a checkpoint first),
130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143
# Training yields the CPU to the chat and the servers on this machine: on an idle machine it runs as fast as
# before, and a chat reply never waits behind a training step. Set before torch makes its threads, which inherit it.
TRAINING_NICENESS = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.backends.worker", description="Train one local run.")
    parser.add_argument("run_dir", type=Path, help="The run folder holding config.json.")
    parser.add_argument("--db", type=Path, help="The registry database file.")
    parser.add_argument("--run-id", type=int, help="The run's id in the registry.")
    parser.add_argument("--resume", action="store_true", help="Continue from the newest complete checkpoint.")
    parser.add_argument("--dry-run", action="store_true", help="Try the plan (dry_run.json); no registry, no run.")
    args = parser.parse_args(argv)
    if not args.dry_run and (args.db is None or args.run_id is None):
        parser.error("--db and --run-id are required (except with --dry-run)")
    if hasattr(os, "nice"):
        os.nice(TRAINING_NICENESS)

    from trainer.core.fileio import read_json_object
    from trainer.store.registry import Registry
    from trainer.tasks.registry import task_of

    if args.dry_run:
        try:
            report = task_of(read_json_object(args.run_dir / "config.json")).dry_run(args.run_dir)
        except Exception:
            traceback.print_exc()
            return EXIT_FAILED
        return EXIT_OK if report.get("error") is None else EXIT_FAILED
    registry = Registry(args.db)
    try:
        task = task_of(read_json_object(args.run_dir / "config.json"))
        result = task.train(args.run_dir, registry, args.run_id, resume=args.resume)
    except Exception:
        # The task already recorded the one-sentence reason; the traceback goes to train.log for debugging.
        traceback.print_exc()
        return EXIT_FAILED
    if result.get("status") == "cancelled":
        return EXIT_INTERRUPTED if result.get("signal") == "SIGINT" else EXIT_TERMINATED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
