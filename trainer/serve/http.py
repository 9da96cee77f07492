"""The one HTTP layer under tunechat's model servers: FastAPI for routes, validation and docs (uvicorn serves
it: see listen.py).

What it adds to FastAPI: every error is one sentence in the API's own JSON shape (a bad body names its field;
never a 422 with pydantic's dump, never a 500 for a body too deeply nested to read), a body-size limit, OpenAPI
docs at /docs, Prometheus metrics at /metrics (metrics.py), and the API key the server may require (access.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer.serve.access import RequireKey
from trainer.serve.metrics import Measured, ServerMetrics, add_metrics_route

if TYPE_CHECKING:
    from trainer.export.parity import ParityReport

MAX_BODY_BYTES = 1_000_000
# A too-large body up to this size is read to its end and dropped before the answer, so the client sees the
# answer instead of a connection reset; anything larger gets the answer and a closed connection.
DRAIN_LIMIT_BYTES = 16_000_000
# Deepest nesting of objects and lists a body may have: far more than any request of these APIs needs, and far
# less than what makes Python's recursion limit (in the JSON parser, pydantic or a chat template) give out.
MAX_DEPTH = 64
LOADING_MESSAGE = "The model is still loading; try again in a few seconds."
REFUSAL = "tunechat_refusal"

T = TypeVar("T")


@dataclass(frozen=True)
class ErrorStyle:
    """How one API shapes and words its errors."""

    body: Callable[[int, str], Any]  # the JSON answered for (status, message)
    example: str  # closes every message about a malformed body, e.g. 'send {"inputs": "some text"}'
    routes: str  # closes a 404, e.g. "use POST /predict or GET /health"
    too_large_status: int = 400
    too_large_advice: str = "send a smaller request"
    # Largest body the API reads (files such as images and sounds need more than texts); at most DRAIN_LIMIT_BYTES.
    max_body_bytes: int = MAX_BODY_BYTES


class ModelSlot(Generic[T]):
    """The served model: empty while it loads, when requests that need it get 503."""

    def __init__(self, value: T | None = None):
        self.value = value

    def get(self) -> T:
        if self.value is None:
            raise HTTPException(503, LOADING_MESSAGE)
        return self.value


@dataclass(frozen=True)
class ServedApi:
    """What a run is served with: its app, how its model loads, and how to tell people to call it."""

    create_app: Callable[[ModelSlot[Any]], FastAPI]
    load: Callable[[Path], Any]  # the run folder -> the model the app's slot holds (slow: seconds)
    banner: Callable[[Any, str], str]  # (model, url) -> what the server prints once the model is loaded
    client_info: Callable[[str, int], dict[str, Any]]  # (url, run_id) -> the endpoint and curl/python examples
    # (run folder, url, API key) -> whether the server answers like the run in this process (trainer/export/deployed.py)
    parity: Callable[[Path, str, str | None], ParityReport] | None = None


def loading_response() -> JSONResponse:
    """/health while the model loads: deploy keeps waiting until it says "ok"."""
    return JSONResponse({"status": "loading"}, status_code=503)


def refusal(message: str) -> PydanticCustomError:
    """A validation error whose message is already the whole sentence (without its final period)."""
    return PydanticCustomError(REFUSAL, message)


class RequestBody(BaseModel):
    """A JSON request body; any body that is not an object reads as an empty one, so the answer names the
    first field it lacks instead of describing pydantic's model type. One nested deeper than MAX_DEPTH is
    refused before anything walks it recursively."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if nesting_depth(data) > MAX_DEPTH:
            raise refusal(too_deep_message())
        return data if isinstance(data, dict) else {}


def nesting_depth(value: Any) -> int:
    """How deeply lists and dicts nest in `value` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def too_deep_message(example: str = "") -> str:
    advice = example or "send a flatter request"
    return f"The request body nests lists or objects more than {MAX_DEPTH} levels deep; {advice}"


def create_app(title: str, description: str, style: ErrorStyle) -> FastAPI:
    """A FastAPI app with the body limit, docs at /docs, Prometheus metrics at /metrics, an API key when the server
    sets one (`app.state.api_key`), and every error answered in `style`."""
    app = FastAPI(title=title, description=description, redirect_slashes=False)
    app.state.error_style = style  # also how the server words a request its HTTP parser refuses
    app.state.api_key = None
    app.state.metrics = metrics = ServerMetrics()
    add_metrics_route(app, metrics)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return JSONResponse(style.body(400, describe_invalid(error.errors(), style.example)), status_code=400)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        status, headers = error.status_code, dict(error.headers or {})
        path = request.url.path
        if status == 404:
            message = f"There is no {path} here; {style.routes}."
        elif status == 405:
            message = f"Use {headers.get('Allow', 'another method')} for {path}; {style.example}."
        elif status == 413:
            return too_large_response(style, None, drained="Connection" not in headers)
        elif status == 400 and isinstance(error.__cause__, RecursionError):
            message = sentence(too_deep_message(style.example))  # too deep for the JSON parser itself
        elif status == 400 and isinstance(error.__cause__, ValueError):
            # Not valid UTF-8, or a number with more digits than Python converts: not JSON it can read.
            message = f"The request body is not valid JSON; {style.example}."
        else:
            message = sentence(str(error.detail))
        return JSONResponse(style.body(status, message), status_code=status, headers=headers)

    async def server_error(request: Request, error: Exception) -> JSONResponse:
        # Starlette still re-raises the error afterwards, so its traceback reaches the server's log.
        message = f"The server failed on this request ({type(error).__name__}); see the server's log"
        return JSONResponse(style.body(500, sentence(message)), status_code=500)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
    app.add_middleware(JsonBodies)
    app.add_middleware(BodyLimit, style=style)
    # Outside the body limit, so a caller without the key never gets a body read; inside the count, so its 401s
    # show in /metrics.
    app.add_middleware(RequireKey, state=app.state, body=style.body)
    app.add_middleware(Measured, metrics=metrics, routes=app)
    return app


def error_style(app: FastAPI) -> ErrorStyle | None:
    """The error style of an app made by create_app (None for any other)."""
    style = getattr(app.state, "error_style", None)
    return style if isinstance(style, ErrorStyle) else None


def too_large_response(style: ErrorStyle, length: int | None, drained: bool) -> JSONResponse:
    """The answer to a body over the style's max_body_bytes (`length` from its Content-Length; None when chunked).

    `drained`: the whole body was read, so the connection can stay open; otherwise it is closed after the answer.
    """
    size = f"is {length} bytes, over" if length is not None else "is over"
    message = f"The request body {size} the {style.max_body_bytes} byte limit; {style.too_large_advice}."
    headers = None if drained else {"Connection": "close"}
    return JSONResponse(style.body(style.too_large_status, message), style.too_large_status, headers=headers)


class BodyLimit:
    """Refuse a body over the style's max_body_bytes (MAX_BODY_BYTES unless the API says otherwise): before the
    app runs when its Content-Length says so, else as soon as that many bytes have arrived. (FastAPI's own
    max_body_size answers a plain-text 413 instead of the API's error shape.)

    A refused body up to DRAIN_LIMIT_BYTES is read to its end and dropped before the answer: a client still
    sending it (urllib, curl: they read only once all is sent) would otherwise see a reset connection instead
    of the answer. Larger ones get the answer and a closed connection.
    """

    def __init__(self, app: ASGIApp, style: ErrorStyle):
        self.app, self.style = app, style

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # uvicorn's parser refuses a Content-Length that is not a plain number; anything else (a chunked body,
        # or one whose length lies) is counted below as it arrives.
        header = Headers(scope=scope).get("content-length", "")
        length = int(header) if header.isascii() and header.isdigit() else None
        limit = self.style.max_body_bytes
        if length is not None and length > limit:
            drained = length <= DRAIN_LIMIT_BYTES and await _drain(receive, 0)
            if drained is None:
                return  # the client left (or uvicorn refused the rest of the request): nobody to answer
            await too_large_response(self.style, length, drained)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                drained = not message.get("more_body", False) or bool(await _drain(receive, received))
                # Answered by create_app's handler, as FastAPI reads the body.
                raise HTTPException(413, headers=None if drained else {"Connection": "close"})
            return message

        await self.app(scope, limited, send)


async def _drain(receive: Receive, received: int) -> bool | None:
    """Read and drop the rest of a body; False when it went past DRAIN_LIMIT_BYTES, None when the client left."""
    while received <= DRAIN_LIMIT_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return None
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return received <= DRAIN_LIMIT_BYTES
    return False


class JsonBodies:
    """Read every body as JSON whatever its Content-Type says (`curl -d` sends a form type unless told
    otherwise), and let a path end with a slash."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
            path = scope["path"]
            scope = {
                **scope,
                "headers": [*headers, (b"content-type", b"application/json")],
                "path": path.rstrip("/") or "/",
            }
        await self.app(scope, receive, send)


def describe_invalid(errors: Any, example: str) -> str:
    """The first validation error as one sentence naming its field, closed by `example`."""
    error = errors[0]
    kind, message = error.get("type", ""), str(error.get("msg", "")).removeprefix("Value error, ")
    field = field_name(error.get("loc", ()))
    if kind == "json_invalid":
        return f"The request body is not valid JSON; {example}."
    if kind == REFUSAL:
        return sentence(message)
    if kind == "missing":
        return f"The request has no '{field}' field; {example}." if field else f"The request has no body; {example}."
    reason = message[:1].lower() + message[1:]
    return sentence(f"'{field or 'body'}' is invalid: {reason}; {example}")


def field_name(loc: Any) -> str:
    """("body", "messages", 0, "role") -> "messages[0].role"."""
    name = ""
    for part in list(loc)[1:]:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return f"{text}." if text else "The request failed."
