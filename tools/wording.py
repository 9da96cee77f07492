"""How tools word settings in the one-line plans the user confirms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.tasks.registry import task_of


def label(key: str) -> str:
    return key.replace("_", " ")


def fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {fmt(item)}" for key, item in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(value).name
    return str(value)


def settings_line(config: dict[str, Any]) -> str:
    """ "model tiny, epochs 3, learning rate 0.0001, ..." for the settings its task shows that a config sets."""
    parts = []
    for key in task_of(config).shown_settings:
        value = config.get(key)
        if value in (None, "", 0) and key == "max_steps":
            continue
        if value not in (None, "", {}):
            parts.append(f"{label(key)} {fmt(value)}")
    return ", ".join(parts)
