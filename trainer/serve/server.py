"""One process entry point for every served run: `python -m trainer.serve RUN_DIR [--host H] [--port P]
[--api-key KEY] [--no-batching] [--max-batch N] [--batch-wait-ms MS]` (the key also from TUNECHAT_API_KEY).

It reads the run's config.json, claims the port, then loads the model while /health says "loading", and
answers until SIGTERM or Ctrl+C. `deploy_run` starts it in its own process; `tunechat serve RUN` calls
`serve_run` in the foreground.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.serve.http import ModelSlot, ServedApi
from trainer.serve.listen import Server
from trainer.serve.options import ServeOptions, add_serve_flags, options_from_args
from trainer.tasks.registry import task_of

# What deploy's liveness check looks for in a server's command line.
SERVER_MODULE = "trainer.serve"


def app_for_run(run_dir: Path) -> ServedApi:
    """The API for the run in `run_dir`: the one its task (config.json; the default task without one) is served
    with."""
    path = Path(run_dir) / "config.json"
    config: dict[str, Any] = {}
    if path.is_file():
        try:
            config = read_json(path)
        except ValueError:
            raise UserError(f"{path} is not valid JSON; train the run again to serve it.") from None
    return task_of(config).served_api()


def serve_run(run_dir: Path, host: str = "127.0.0.1", port: int = 8000, options: ServeOptions | None = None) -> None:
    """Claim the port (a busy one is refused at once), load the model, print how to call it, answer until
    stopped; raises UserError when the port or the model cannot be had."""
    api = app_for_run(run_dir)
    slot: ModelSlot[Any] = ModelSlot()
    server = Server(api.create_app(slot), host, port, options=options)

    def load() -> None:
        slot.value = api.load(Path(run_dir))
        print(api.banner(slot.value, server.url), flush=True)
        if server.options.api_key:
            print("Every route but /health needs 'Authorization: Bearer <the API key>'.", flush=True)

    server.serve(load)
    print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.serve", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="The run folder (runs/run-<id>).")
    parser.add_argument(
        "--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1: this machine only; :: for IPv6)."
    )
    parser.add_argument("--port", default=8000, type=int, help="Port to listen on (default 8000).")
    add_serve_flags(parser)
    args = parser.parse_args(argv)
    try:
        serve_run(args.run_dir, args.host, args.port, options_from_args(args))
    except UserError as error:
        # `deploy_run` reads this line from serve.log to explain why the server did not start.
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    return 0
