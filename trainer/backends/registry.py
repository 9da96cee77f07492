"""The Backend registry: where runs execute, by name. Backends are listed by module path and loaded on first
use; each module exposes its backend as `BACKEND`. The first is the default (this machine)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from trainer.backends.base import Backend, HostedBackend
from trainer.core.errors import UserError

BUILTIN = (
    "trainer.backends.local",
    "trainer.backends.openai.backend",
    "trainer.backends.together.backend",
)

_backends: dict[str, Backend] = {}


def all_backends() -> list[Backend]:
    if not _backends:
        for module in BUILTIN:
            backend = importlib.import_module(module).BACKEND
            _backends[backend.name] = backend
    return list(_backends.values())


def backend_names() -> tuple[str, ...]:
    return tuple(backend.name for backend in all_backends())


def default_backend() -> Backend:
    return all_backends()[0]


def hosted_backends() -> list[HostedBackend]:
    return [backend for backend in all_backends() if isinstance(backend, HostedBackend)]


def get_backend(name: str | None) -> Backend:
    """The backend called `name` (the default for none); one sentence naming the known ones otherwise."""
    if not name:
        return default_backend()
    for backend in all_backends():
        if backend.name == name.strip().lower():
            return backend
    raise UserError(f"'{name}' is not a place tunechat trains; use one of {', '.join(backend_names())}.")


def backend_of(run: Mapping[str, Any]) -> Backend:
    """The backend a run (a registry row or a config) executes on."""
    return get_backend(str(run.get("backend") or ""))


def hosted_for(name: str | None, model: str | None) -> HostedBackend | None:
    """The hosted backend a request means: named outright, or implied by a model only it has; None for local."""
    if name:
        backend = get_backend(name)
        return backend if isinstance(backend, HostedBackend) else None
    return next((backend for backend in hosted_backends() if backend.owns_model(model)), None)
