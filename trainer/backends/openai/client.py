"""The OpenAI client for fine-tuning, configured the way the official client reads its environment.

OPENAI_API_KEY, OPENAI_BASE_URL (Azure OpenAI or a compatible provider), OPENAI_ORG_ID and
OPENAI_PROJECT_ID are read by `openai.OpenAI()` itself; we only add the retry count and timeout.
Retries of rate limits (429), server errors (5xx) and timeouts are the client's own, with its
exponential backoff and Retry-After handling, so there is no hand-written retry loop here.
"""

from __future__ import annotations

import os
from typing import Any

from trainer.backends.hosted_client import redact_key, retries_and_timeout
from trainer.core.errors import UserError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"


def has_api_key() -> bool:
    return bool(os.environ.get(KEY_ENV))


def make_client(max_retries: int | None = None, timeout: float | None = None) -> Any:
    """An `openai.OpenAI` client from the environment; a UserError when no key is set."""
    import openai

    if not has_api_key():
        raise UserError(
            "OPENAI_API_KEY is not set, so tunechat cannot reach the OpenAI API; set it in the environment "
            "tunechat runs in (and OPENAI_BASE_URL for Azure OpenAI or a compatible provider) and try again."
        )
    retries, seconds = retries_and_timeout("TUNECHAT_OPENAI", max_retries, timeout)
    return openai.OpenAI(max_retries=retries, timeout=seconds)


def endpoint() -> str:
    """The base URL requests go to (never the key), for plans and run records."""
    return (os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def redact(text: str) -> str:
    """`text` with the API key (if it appears at all) replaced, for anything that is written or shown."""
    return redact_key(text, KEY_ENV)
