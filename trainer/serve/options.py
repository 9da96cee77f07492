"""How a server is run, whatever it serves: its API key and how it batches requests, from the command line
(`python -m trainer.serve`, `tunechat serve`) to the app (`configure`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI

from trainer.serve.access import KEY_ENV, api_key_from
from trainer.serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, Batcher


@dataclass(frozen=True)
class ServeOptions:
    api_key: str | None = None  # None: every route is open
    batching: bool = True  # gather concurrent requests into one forward pass
    max_batch: int = DEFAULT_MAX_BATCH  # inputs per forward pass
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS  # how long the first request waits for others to join it


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every server command takes (besides the run, --host and --port)."""
    parser.add_argument(
        "--api-key",
        help=f"Require 'Authorization: Bearer KEY' on every route but /health (default: ${KEY_ENV}, which keeps the "
        "key out of the process list).",
    )
    parser.add_argument(
        "--no-batching", action="store_true", help="Answer each request with its own forward pass (no gathering)."
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=DEFAULT_MAX_BATCH,
        help=f"Inputs per forward pass (default {DEFAULT_MAX_BATCH}).",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=DEFAULT_MAX_WAIT_MS,
        help=f"How long a request waits for others to share its forward pass (default {DEFAULT_MAX_WAIT_MS:g} ms).",
    )


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    """The options the flags of add_serve_flags give (the key from the environment when no flag names one)."""
    return ServeOptions(
        api_key=api_key_from(getattr(args, "api_key", None)),
        batching=not getattr(args, "no_batching", False),
        max_batch=int(getattr(args, "max_batch", DEFAULT_MAX_BATCH)),
        max_wait_ms=float(getattr(args, "batch_wait_ms", DEFAULT_MAX_WAIT_MS)),
    )


def configure(app: FastAPI, options: ServeOptions) -> None:
    """Apply `options` to an app made by http.create_app, before it answers its first request."""
    app.state.api_key = options.api_key
    batcher = getattr(app.state, "batcher", None)
    if isinstance(batcher, Batcher):
        batcher.configure(options.batching, options.max_batch, options.max_wait_ms / 1000)


def batching_info(batcher: Batcher[Any]) -> dict[str, Any]:
    """How a server gathers requests, as /info reports it."""
    return {"enabled": batcher.enabled, "max_batch_size": batcher.max_batch, "max_wait_ms": batcher.max_wait_s * 1000}


def tunechat_version() -> str:
    try:
        return version("tunechat")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
