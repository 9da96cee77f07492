"""The training process: `python -m trainer.backends.worker RUN_DIR --db DB_PATH --run-id N`.

Exit codes: 0 succeeded, 1 failed, 143 stopped by SIGTERM, 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.backends.worker", description="Run one local training job."
    )
    parser.add_argument("run_dir", type=Path, help="The run folder holding config.json.")
    parser.add_argument("--db", required=True, type=Path, help="The registry database file.")
    parser.add_argument("--run-id", required=True, type=int, help="The run's id in the registry.")
    args = parser.parse_args(argv)

    from trainer.store.registry import Registry
    from trainer.tasks.text_classification.train import train_run

    registry = Registry(args.db)
    try:
        result = train_run(args.run_dir, registry, args.run_id)
    except Exception:
        # train_run already recorded the one-sentence reason; the traceback goes to train.log for debugging.
        traceback.print_exc()
        return EXIT_FAILED
    if result.get("status") == "cancelled":
        return EXIT_INTERRUPTED if result.get("interrupted") else EXIT_TERMINATED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
