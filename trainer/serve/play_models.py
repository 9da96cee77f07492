"""The models the playground runs in this process: a small cache (each model loaded once while it stays, one load
at a time), loading through the code that serves a run, and the run a classifier was tuned further from (its base
classifier, when there is one).

Only models of this workspace's runs load here (a run's own model/ folder, by the loader its task serves it
with, which reads `trust_remote_code` from the run's config), besides a chat run's base model (playground.py).
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry
from trainer.store.runs import RunRecord
from trainer.tasks.registry import task_of

# Models kept loaded: a tuned model, its base, and the run it is compared with.
CACHE_SIZE = 3


class ModelCache:
    """The last `size` models used, each loaded once while it stays; one load at a time (a model is loaded once
    even when two requests ask for it together)."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._models: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.loads: list[Hashable] = []  # every key loaded, in order

    def __contains__(self, key: Hashable) -> bool:
        return key in self._models

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            if len(self._models) >= self.size:
                # Dropped before the next one loads, so no more than `size` models are ever in memory.
                while len(self._models) >= self.size:
                    self._models.popitem(last=False)
                gc.collect()
            model = load()
            self.loads.append(key)
            self._models[key] = model
            return model


def run_key(run_dir: Path, kind: str) -> Hashable:
    """A run's model in the cache; the model folder's time is in it, so a run folder replaced under the same id is
    a different model."""
    try:
        stamp = (run_dir / "model").stat().st_mtime_ns
    except OSError:
        stamp = 0
    return (kind, str(run_dir.resolve()), stamp)


def load_run_model(run: RunRecord, run_dir: Path) -> Any:
    """The run's own model, loaded by the code its task serves it with; a folder it cannot read is one sentence."""
    run_id = int(run["id"])
    try:
        return task_of(run).served_api().load(run_dir)
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"Run {run_id}'s model in {run_dir / 'model'} cannot be loaded ({type(error).__name__}); "
            "its files may be missing or damaged, so train it again to try it."
        ) from error


def base_run(workspace: Workspace, registry: Registry, run: RunRecord) -> RunRecord | None:
    """The succeeded run of this workspace whose trained model `run` started from (a model tuned further), or None
    (a pretrained model with a new head has no base that answers the same question)."""
    path = Path(str(run.get("model") or "").strip()).expanduser()
    if not path.is_absolute():  # a catalog name or a hub id: a pretrained model, not a run's
        return None
    try:
        started = path.resolve()
    except (OSError, RuntimeError):
        return None
    for other in registry.list_runs():
        if other["id"] == run["id"] or other["status"] != "succeeded":
            continue
        try:
            if (workspace.run_dir_of(other) / "model").resolve() == started:
                return other
        except (OSError, RuntimeError):
            continue
    return None
