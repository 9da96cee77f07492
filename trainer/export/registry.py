"""The export formats tunechat writes, by name. Each module named here exposes its format as `FORMAT`, and is
imported on first use so that naming the formats costs no torch import."""

from __future__ import annotations

import importlib

from trainer.core.errors import UserError
from trainer.export.base import ExportFormat

BUILTIN: tuple[str, ...] = (
    "trainer.export.merged",
    "trainer.export.gguf",
    "trainer.export.onnx",
    "trainer.export.hub",
)

_formats: dict[str, ExportFormat] = {}


def _ensure_loaded() -> None:
    if _formats:
        return
    for module in BUILTIN:
        found: ExportFormat = importlib.import_module(module).FORMAT
        _formats.setdefault(found.name, found)


def formats() -> list[ExportFormat]:
    """Every format, in the order the list above gives them."""
    _ensure_loaded()
    return list(_formats.values())


def format_named(name: str) -> ExportFormat:
    """The format called `name` (case-insensitive); UserError naming the formats there are otherwise."""
    _ensure_loaded()
    found = _formats.get(name.strip().lower())
    if found is None:
        known = ", ".join(_formats) or "none"
        raise UserError(f"There is no export format called {name!r}; choose one of: {known}")
    return found
