"""The process that runs one hyperparameter search: `python -m tools.search_driver WORKSPACE NAME [SESSION]`.

Started by tools/search_tools.start_search through the one child-process table, in its own session, so the chat
stays responsive and a stop request (SIGTERM) reaches it. Each trial is a run started through tools/launch.py,
the one launch path of every local training plan; its log line per event is JSON, for whoever reads the log.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.launch import launch_plan
from trainer.core.workspace import Workspace
from trainer.search.study import run_study
from trainer.store.registry import Registry


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # run_study stops the running trial's run and records the search as stopped


def main(argv: list[str]) -> int:
    root, name = Path(argv[0]), argv[1]
    session_id = argv[2] if len(argv) > 2 and argv[2] else None
    workspace = Workspace(root)
    ctx = ToolContext(workspace, Registry(workspace.db_path), session_id)
    signal.signal(signal.SIGTERM, _stop)

    def event(record: dict[str, Any]) -> None:
        print(json.dumps(record), flush=True)

    try:
        result = run_study(
            workspace,
            ctx.registry,
            name,
            lambda config, registered: int(launch_plan(ctx, config, registered=registered)["run_id"]),
            event,
        )
    except KeyboardInterrupt:
        return 1
    print(json.dumps({"event": "finished", "best": result.get("best")}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
