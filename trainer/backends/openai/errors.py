"""OpenAI API errors explained in one sentence with what to do (the UserError contract).

The client has already retried 429, 5xx and timeouts by the time an error reaches here, so what is
left is either a request the API refuses (400, 401, 403, 404) or a service that stayed unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from trainer.backends.base import HostedClosed
from trainer.backends.openai.client import endpoint, redact
from trainer.core.errors import UserError

# OpenAI's answer to a create when the organisation may no longer fine-tune: 403 with this code and e.g. "OpenAI
# is winding down the fine-tuning platform and your organization is no longer able to create new fine-tuning
# training jobs." (the message public projects quote since 2026-05; OpenAI's deprecations page, "Update to
# OpenAI's self-serve fine-tuning", gives the dates: closed since 2026-05-07 to organisations that never
# fine-tuned, since 2026-07-02 to those without fine-tuned inference in 60 days, to everyone from 2027-01-06).
CLOSED_CODE = "training_not_available"
CLOSED_WORDS = re.compile(r"winding down the fine-tuning|no longer able to create new fine-tuning", re.IGNORECASE)


def is_closed(error: Exception) -> bool:
    """True when the API refused because this organisation may not fine-tune any more (so nothing helps but
    another provider), whatever the status (403 today; a 400 would mean the same)."""
    import openai

    if not isinstance(error, openai.APIStatusError) or error.status_code not in (400, 403):
        return False
    return getattr(error, "code", None) == CLOSED_CODE or bool(CLOSED_WORDS.search(_server_message(error)))


def closed_error(status: int | str) -> HostedClosed:
    """The one sentence for a refusal because OpenAI closed self-serve fine-tuning to this organisation."""
    return HostedClosed(
        f"OpenAI no longer lets this organisation create fine-tuning jobs ({status} {CLOSED_CODE}: it is winding "
        "down self-serve fine-tuning, closed since 2026-05-07 to organisations that never fine-tuned and to "
        "everyone from 2027-01-06); run the same plan on another provider or on this machine.",
        status,
    )


def _server_message(error: Exception) -> str:
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message or getattr(error, "message", "") or error).strip().rstrip(".")
    return redact(" ".join(text.split()))[:300]


def explain(error: Exception, doing: str = "the request") -> UserError:
    """One sentence: what the API said about `doing` and what the user can do about it."""
    import openai

    said = _server_message(error)
    if is_closed(error):
        return closed_error(getattr(error, "status_code", 403))
    if isinstance(error, openai.AuthenticationError):
        return UserError(
            f"The OpenAI API at {endpoint()} rejected the API key (401) during {doing}; set OPENAI_API_KEY to a "
            "valid key for that endpoint (and OPENAI_ORG_ID/OPENAI_PROJECT_ID if your key needs them) and try again."
        )
    if isinstance(error, openai.PermissionDeniedError):
        return UserError(
            f"The OpenAI API refused {doing} for this key (403: {said}); use a key of a project allowed to "
            "fine-tune this model, or pick another model."
        )
    if isinstance(error, openai.BadRequestError):
        return UserError(
            f"The OpenAI API rejected {doing} (400: {said}); fix the file or setting it names and start a new plan."
        )
    if isinstance(error, openai.NotFoundError):
        return UserError(
            f"The OpenAI API does not know what {doing} refers to (404: {said}); check the model name and "
            "OPENAI_BASE_URL, then try again."
        )
    if isinstance(error, openai.RateLimitError):
        return UserError(
            f"The OpenAI API kept answering 'rate limited' during {doing} after several retries ({said}); "
            "wait a few minutes or check your quota, then try again."
        )
    if isinstance(error, openai.APITimeoutError):
        return UserError(
            f"The OpenAI API at {endpoint()} did not answer {doing} in time after several retries; check the "
            "connection (or raise TUNECHAT_OPENAI_TIMEOUT) and try again."
        )
    if isinstance(error, openai.APIConnectionError):
        return UserError(
            f"tunechat could not connect to the OpenAI API at {endpoint()} during {doing}; check the network "
            "and OPENAI_BASE_URL, then try again."
        )
    if isinstance(error, openai.APIStatusError):
        return UserError(
            f"The OpenAI API failed {doing} ({error.status_code}: {said}) even after retries; try again later."
        )
    return UserError(f"The OpenAI request ({doing}) failed: {redact(str(error))[:300]}; try again later.")


@contextmanager
def explained(doing: str) -> Iterator[None]:
    """Turn any openai error raised inside into the one-sentence UserError."""
    import openai

    try:
        yield
    except openai.OpenAIError as error:
        raise explain(error, doing) from None
