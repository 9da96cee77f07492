"""How many local runs may train at once, and the lock that keeps two starts from both taking the last slot.

On a CPU a second run only halves the speed of both and doubles the memory, so the default is one run at a
time; on a machine with GPUs it is one per GPU. TUNECHAT_MAX_RUNS overrides it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainer.core.errors import BusyError, UserError
from trainer.core.processes import CHILDREN
from trainer.core.workspace import Workspace
from trainer.plan.launch import WORKER_MODULE
from trainer.store.registry import ACTIVE, Registry

MAX_RUNS_ENV = "TUNECHAT_MAX_RUNS"
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def gpu_count() -> int:
    """GPUs this process may use, without loading torch: CUDA_VISIBLE_DEVICES when set, else the driver's list."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip() and device.strip() != "-1"])
    try:
        return len(list(NVIDIA_GPUS.iterdir()))
    except OSError:
        return 0


def max_local_runs() -> int:
    """The most local runs that may train at once: TUNECHAT_MAX_RUNS, else one per GPU, else one."""
    value = os.environ.get(MAX_RUNS_ENV, "").strip()
    if not value:
        return max(1, gpu_count())
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"{MAX_RUNS_ENV}={value!r} is not a whole number of at least 1; set it to e.g. 1 and restart.")
    return int(value)


def training_now(registry: Registry) -> list[int]:
    """Ids of the local runs whose worker is alive now (a queued row whose process died does not count)."""
    return [
        run["id"]
        for run in registry.list_runs()
        if run["status"] in ACTIVE and run.get("pid") and CHILDREN.alive(int(run["pid"]), (WORKER_MODULE,))
    ]


@contextmanager
def launch_slot(ws: Workspace, registry: Registry) -> Iterator[None]:
    """Hold the workspace's launch lock while one run is checked against the limit and started.

    The lock spans the check and the launch (which records the worker's pid), so two yes in two chats at the
    same moment cannot both pass the check. The error is a BusyError: the plan can be started later unchanged.
    """
    ws.root.mkdir(parents=True, exist_ok=True)
    with open(ws.root / ".launch.lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        busy, limit = training_now(registry), max_local_runs()
        if len(busy) >= limit:
            names = ", ".join(str(run_id) for run_id in busy)
            at_once = "one run at a time" if limit == 1 else f"{limit} runs at once"
            raise BusyError(
                f"Run{'s' if len(busy) > 1 else ''} {names} {'are' if len(busy) > 1 else 'is'} training and this "
                f"machine trains {at_once}; wait for it to finish (say 'status') or stop it, then say go again."
            )
        yield
