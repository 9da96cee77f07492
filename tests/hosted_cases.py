"""The hosted backends a cross-backend test runs through, each behind its own loopback server.

A case names a backend of the registry and starts the loopback server that speaks its API, pointing the
environment (key, base URL, fast polling) at it; the test then drives the backend only through the
HostedBackend interface (plan, confirm, status), so adding a backend here is all a new provider needs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fake_openai_ft import FakeFineTuning
from hosted_runs import CANARY
from together_server import FakeTogether, point_client_at


@dataclass(frozen=True)
class HostedCase:
    backend: str  # the backend's name in trainer/backends/registry.py
    # Start its loopback server (closed by the stack), point the environment at it, return the server.
    start: Callable[[ExitStack, pytest.MonkeyPatch], Any]
    model: str | None = None  # the model planned (None: the backend's default)

    def __str__(self) -> str:
        return self.backend


def _openai(stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> FakeFineTuning:
    server = stack.enter_context(FakeFineTuning(key=CANARY, steps=4, slow_s=0.8))
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("TUNECHAT_OPENAI_POLL_S", "0.1")
    monkeypatch.setenv("TUNECHAT_OPENAI_TIMEOUT", "0.4")
    return server


def _together(stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> FakeTogether:
    server = point_client_at(FakeTogether(key=CANARY, steps=4).start(), monkeypatch, CANARY)
    stack.callback(server.stop)
    return server


HOSTED_CASES = [HostedCase("openai", _openai, model="gpt-4.1-mini"), HostedCase("together", _together)]
