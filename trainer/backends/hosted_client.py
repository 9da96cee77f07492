"""What the hosted backends' API clients share: retries and timeout from tunechat's environment, and keeping the
API key out of everything tunechat writes or shows.

Each provider's official client reads its own key and base URL itself; these only add tunechat's settings.
"""

from __future__ import annotations

import os

# The official clients' default is 2; a fine-tuning upload or create is worth a few more tries.
DEFAULT_MAX_RETRIES = 5
# Seconds per request; uploads of large files need more than a chat request.
DEFAULT_TIMEOUT_S = 120.0


def env_number(name: str, default: float) -> float:
    """The number in environment variable `name`, or `default` when it is unset or not a number."""
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def retries_and_timeout(prefix: str, max_retries: int | None, timeout: float | None) -> tuple[int, float]:
    """The client's retry count and timeout: the arguments when given, else `<prefix>_MAX_RETRIES` and
    `<prefix>_TIMEOUT` from the environment (e.g. TUNECHAT_OPENAI_TIMEOUT), else the defaults."""
    retries = int(max_retries if max_retries is not None else env_number(f"{prefix}_MAX_RETRIES", DEFAULT_MAX_RETRIES))
    seconds = float(timeout if timeout is not None else env_number(f"{prefix}_TIMEOUT", DEFAULT_TIMEOUT_S))
    return retries, seconds


def redact_key(text: str, key_env: str) -> str:
    """`text` with the API key in `key_env` (if it appears at all) replaced, for anything written or shown."""
    key = os.environ.get(key_env)
    if key and len(key) >= 4 and key in text:
        text = text.replace(key, "[redacted]")
    return text
