"""Together API errors explained in one sentence with what to do (the UserError contract).

The client has already retried 429, 5xx and timeouts by the time an error reaches here, so what is left is
either a request the API refuses (400, 401, 403, 404, 422) or a service that stayed unavailable. The client
also refuses some settings itself before sending anything (a ValueError, e.g. a batch size above the model's
limit), and a file its own format check rejects (FileTypeError).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trainer.backends.together.client import endpoint, redact
from trainer.core.errors import UserError


def _server_message(error: Exception) -> str:
    body = getattr(error, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
    text = str(message or getattr(error, "message", "") or error).strip().rstrip(".")
    return redact(" ".join(text.split()))[:300]


def explain(error: Exception, doing: str = "the request") -> UserError:
    """One sentence: what the API said about `doing` and what the user can do about it."""
    import together

    said = _server_message(error)
    if isinstance(error, together.AuthenticationError):
        return UserError(
            f"Together AI at {endpoint()} rejected the API key (401) during {doing}; set TOGETHER_API_KEY to a valid "
            "key for that endpoint (and check the account's credits) and try again."
        )
    if isinstance(error, together.PermissionDeniedError):
        return UserError(
            f"Together AI refused {doing} for this key (403: {said}); use a key allowed to fine-tune this model, "
            "or pick another model."
        )
    if isinstance(error, together.BadRequestError | together.UnprocessableEntityError):
        return UserError(
            f"Together AI rejected {doing} ({error.status_code}: {said}); fix the file or setting it names and "
            "start a new plan."
        )
    if isinstance(error, together.NotFoundError):
        return UserError(
            f"Together AI does not know what {doing} refers to (404: {said}); check the model name and "
            "TOGETHER_BASE_URL, then try again."
        )
    if isinstance(error, together.RateLimitError):
        return UserError(
            f"Together AI kept answering 'rate limited' during {doing} after several retries ({said}); wait a few "
            "minutes or check your limits, then try again."
        )
    if isinstance(error, together.APITimeoutError):
        return UserError(
            f"Together AI at {endpoint()} did not answer {doing} in time after several retries; check the "
            "connection (or raise TUNECHAT_TOGETHER_TIMEOUT) and try again."
        )
    if isinstance(error, together.APIConnectionError):
        return UserError(
            f"tunechat could not connect to Together AI at {endpoint()} during {doing}; check the network and "
            "TOGETHER_BASE_URL, then try again."
        )
    if isinstance(error, together.APIStatusError):
        return UserError(
            f"Together AI failed {doing} ({error.status_code}: {said}) even after retries; try again later."
        )
    if isinstance(error, ValueError):
        return UserError(f"The Together client refused {doing}: {redact(str(error))[:300]}; change that setting.")
    return UserError(f"The Together request ({doing}) failed: {redact(str(error))[:300]}; try again later.")


@contextmanager
def explained(doing: str) -> Iterator[None]:
    """Turn any together error (or the client's own ValueError about a setting) into the one-sentence UserError."""
    import together

    try:
        yield
    except (together.TogetherError, ValueError) as error:
        raise explain(error, doing) from None
