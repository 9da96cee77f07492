"""The Together client for fine-tuning, configured the way the official client reads its environment.

TOGETHER_API_KEY and TOGETHER_BASE_URL are read by `together.Together()` itself (the key is never passed,
stored or logged by tunechat); we only add the retry count and timeout. Retries of rate limits (429), server
errors (5xx) and timeouts are the client's own, with its exponential backoff, except for the job's creation
(trainer/backends/together/job.py), which looks for an earlier job before each of its own tries.
"""

from __future__ import annotations

import os
from typing import Any

from trainer.backends.hosted_client import redact_key, retries_and_timeout
from trainer.core.errors import UserError

DEFAULT_BASE_URL = "https://api.together.ai"
KEY_ENV = "TOGETHER_API_KEY"


def has_api_key() -> bool:
    return bool(os.environ.get(KEY_ENV))


def make_client(max_retries: int | None = None, timeout: float | None = None) -> Any:
    """A `together.Together` client from the environment; a UserError when no key is set."""
    import together

    if not has_api_key():
        raise UserError(
            f"{KEY_ENV} is not set, so tunechat cannot reach Together AI; set it in the environment tunechat runs "
            "in (and TOGETHER_BASE_URL for another endpoint) and try again."
        )
    retries, seconds = retries_and_timeout("TUNECHAT_TOGETHER", max_retries, timeout)
    return together.Together(max_retries=retries, timeout=seconds)


def endpoint() -> str:
    """The base URL requests go to (never the key), for plans and run records."""
    return (os.environ.get("TOGETHER_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def redact(text: str) -> str:
    """`text` with the API key (if it appears at all) replaced, for anything that is written or shown."""
    return redact_key(text, KEY_ENV)
