"""The causal-LM training process: `python -m trainer.tasks.causal_lm.worker RUN_DIR --db DB --run-id N [--resume]`.

Also started through `accelerate launch` for several GPUs (see trainer/plan/launch.py).
Exit codes: 0 succeeded, 1 failed, 143 stopped by SIGTERM (checkpoint saved, resumable).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_TERMINATED = 0, 1, 143


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.tasks.causal_lm.worker", description="Fine-tune a causal LM."
    )
    parser.add_argument("run_dir", type=Path, help="The run folder holding config.json.")
    parser.add_argument("--db", required=True, type=Path, help="The registry database file.")
    parser.add_argument("--run-id", required=True, type=int, help="The run's id in the registry.")
    parser.add_argument("--resume", action="store_true", help="Continue from the newest complete checkpoint.")
    args = parser.parse_args(argv)

    from trainer.store.registry import Registry
    from trainer.tasks.causal_lm.train import train_llm_run

    try:
        result = train_llm_run(args.run_dir, Registry(args.db), args.run_id, resume=args.resume)
    except Exception:
        traceback.print_exc()  # the one-sentence reason is already in the registry
        return EXIT_FAILED
    return EXIT_TERMINATED if result.get("status") == "cancelled" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
