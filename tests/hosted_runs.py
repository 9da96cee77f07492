"""The canary API key the hosted fine-tuning tests run with, and ending the follower processes they start."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from trainer.backends.base import HostedBackend
from trainer.backends.registry import backend_of
from trainer.store.registry import Registry

# Distinctive enough that finding it anywhere in the workspace or the output can only be a leak.
CANARY = "sk-canary-7f3e9b1c5d2a4e6f8091"


def stop_followers(home: Path) -> None:
    """End the follower processes the tests started, whichever hosted backend's (by pid, from the registry)."""
    if not (home / "tunechat.db").is_file():
        return
    for run in Registry(home / "tunechat.db").list_runs():
        backend = backend_of(run)
        if isinstance(backend, HostedBackend) and backend.follower_alive(run.get("pid")):
            os.kill(int(run["pid"]), signal.SIGTERM)
