"""The Task registry: every kind of fine-tuning tunechat knows, by name.

Built-in tasks are listed by module path and loaded on first use, so asking for a task's name costs no
torch import, and plug-ins work the same way: `register(task)` adds one at run time, and child processes
(training workers, model servers) load the same plug-ins from TUNECHAT_TASK_PLUGINS, which `plugin_env()`
fills in for them. Each module named here exposes its task as `TASK`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.tasks.base import Task

# The first is the default task: what a table of texts and labels trains when nothing else is said.
BUILTIN = (
    "trainer.tasks.text_classification.task",
    "trainer.tasks.text_regression.task",
    "trainer.tasks.causal_lm.sft",
    "trainer.tasks.causal_lm.dpo",
    "trainer.tasks.causal_lm.orpo",
    "trainer.tasks.causal_lm.kto",
    "trainer.tasks.image_classification.task",
    "trainer.tasks.audio_classification.task",
)
PLUGINS_ENV = "TUNECHAT_TASK_PLUGINS"

_tasks: dict[str, Task] = {}
_plugins: list[str] = []


def _load_module(module: str) -> Task:
    task = importlib.import_module(module).TASK
    if not isinstance(task, Task):
        raise TypeError(f"{module}.TASK is not a Task")
    return task


def _ensure_loaded() -> None:
    if _tasks:
        return
    for module in BUILTIN:
        task = _load_module(module)
        _tasks.setdefault(task.name, task)
    for module in filter(None, os.environ.get(PLUGINS_ENV, "").split(",")):
        register(_load_module(module.strip()))


def register(task: Task) -> Task:
    """Add (or replace) a task; its module is passed on to the child processes that train and serve it."""
    _ensure_loaded()
    _tasks[task.name] = task
    module = type(task).__module__
    if module not in BUILTIN and module not in _plugins:
        _plugins.append(module)
    return task


def unregister(name: str) -> None:
    """Remove a plug-in task (tests use this to leave the registry as they found it)."""
    task = _tasks.pop(name, None)
    if task is not None and type(task).__module__ in _plugins:
        _plugins.remove(type(task).__module__)


def all_tasks() -> list[Task]:
    _ensure_loaded()
    return list(_tasks.values())


def task_names() -> tuple[str, ...]:
    return tuple(task.name for task in all_tasks())


def default_task() -> Task:
    return all_tasks()[0]


def get_task(name: str) -> Task:
    """The task called `name` (or one of its aliases); one sentence naming the known tasks otherwise."""
    _ensure_loaded()
    key = (name or "").strip().lower()
    for task in _tasks.values():
        if key == task.name or key in task.aliases:
            return task
    raise UserError(f"'{name}' is not a task tunechat trains; use one of {', '.join(task_names())}.")


def task_of(config: Mapping[str, Any]) -> Task:
    """The task of a run config (or registry row), the default task for configs that name none."""
    return get_task(str(config.get("task") or default_task().name))


def task_for_kind(kind: str | None) -> Task | None:
    """The task that trains data of this kind (trainer/data/kinds.py), or None when none does."""
    return next((task for task in all_tasks() if kind in task.data_kinds), None)


def plugin_env() -> dict[str, str]:
    """Environment a child process needs to load the plug-in tasks of this one (empty without plug-ins)."""
    if not _plugins:
        return {}
    roots = []
    for module in _plugins:
        file = getattr(sys.modules.get(module), "__file__", None)
        if file:
            # The folder the module is imported from: its file's folder, one level up per package in its name.
            root = Path(file).resolve().parents[module.count(".")]
            roots.append(str(root))
    path = os.pathsep.join(dict.fromkeys([*roots, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]))
    return {PLUGINS_ENV: ",".join(_plugins), "PYTHONPATH": path}


def detect_kind(path: Path) -> str | None:
    """The kind of data in a file (trainer/data/shapes.py), or None when it cannot be read or recognised."""
    from trainer.data.read import load_table
    from trainer.data.shapes import detect_shape

    try:
        return str(detect_shape(load_table(path))["task"])
    except (UserError, OSError, ValueError):
        return None


def task_for_data(path: Path, name: str | None = None, columns_named: bool = False) -> Task:
    """The task to train on a file: the one named, else the one that trains the kind of data in it.

    A file no task recognises goes to the default task, whose planner explains what is wrong with it; naming
    the text and label columns means a classifier on them, whatever else the data could be.
    """
    if name:
        return get_task(name)
    kind = detect_kind(path)
    task = task_for_kind(kind)
    if task is not None:
        return task
    if kind is None or columns_named:
        return default_task()
    raise UserError(
        f"'{path.name}' holds {kind} data, which tunechat cannot train here yet; "
        "name the text and label columns to train a classifier, or use chat or preference data."
    )
