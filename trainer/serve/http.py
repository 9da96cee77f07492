"""The one HTTP layer under tunechat's model servers: FastAPI for routes, validation and docs, uvicorn to serve.

What it adds to FastAPI: every error is one sentence in the API's own JSON shape (a bad body names its field;
never a 422 with pydantic's dump), a body-size limit, OpenAPI docs at /docs, and a `Server` that claims its
port before the slow model load (so a busy port is refused at once while /health says "loading"), answers
in the foreground until SIGTERM or Ctrl+C (uvicorn's graceful shutdown), or in a thread for tests.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer.core.errors import UserError

MAX_BODY_BYTES = 1_000_000
# A too-large body up to this size is read to its end and dropped before the answer, so the client sees the
# answer instead of a connection reset; anything larger gets the answer and a closed connection.
DRAIN_LIMIT_BYTES = 16_000_000
# How long a stopping server lets a request in flight (a generation, say) finish before cancelling it;
# deploy's stop waits 10 s before it kills.
GRACEFUL_SHUTDOWN_S = 5
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


def loading_response() -> JSONResponse:
    """/health while the model loads: deploy keeps waiting until it says "ok"."""
    return JSONResponse({"status": "loading"}, status_code=503)


def refusal(message: str) -> PydanticCustomError:
    """A validation error whose message is already the whole sentence (without its final period)."""
    return PydanticCustomError(REFUSAL, message)


class RequestBody(BaseModel):
    """A JSON request body; any body that is not an object reads as an empty one, so the answer names the
    first field it lacks instead of describing pydantic's model type."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {}


def create_app(title: str, description: str, style: ErrorStyle) -> FastAPI:
    """A FastAPI app with the body limit, docs at /docs and every error answered in `style`."""
    app = FastAPI(title=title, description=description, redirect_slashes=False)

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
    return app


def too_large_response(style: ErrorStyle, length: int | None, drained: bool) -> JSONResponse:
    """The answer to a body over MAX_BODY_BYTES (`length` from its Content-Length; None when sent in chunks).

    `drained`: the whole body was read, so the connection can stay open; otherwise it is closed after the answer.
    """
    size = f"is {length} bytes, over" if length is not None else "is over"
    message = f"The request body {size} the {MAX_BODY_BYTES} byte limit; {style.too_large_advice}."
    headers = None if drained else {"Connection": "close"}
    return JSONResponse(style.body(style.too_large_status, message), style.too_large_status, headers=headers)


class BodyLimit:
    """Refuse a body over MAX_BODY_BYTES: before the app runs when its Content-Length says so, else as soon as
    that many bytes have arrived. (FastAPI's own max_body_size answers a plain-text 413 instead of the API's
    error shape.)

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
        header = Headers(scope=scope).get("content-length")
        length = int(header) if header is not None and header.isdigit() else None
        if length is not None and length > MAX_BODY_BYTES:
            drained = length <= DRAIN_LIMIT_BYTES and await _drain(receive, 0)
            await too_large_response(self.style, length, drained)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                drained = not message.get("more_body", False) or await _drain(receive, received)
                # Answered by create_app's handler, as FastAPI reads the body.
                raise HTTPException(413, headers=None if drained else {"Connection": "close"})
            return message

        await self.app(scope, limited, send)


async def _drain(receive: Receive, received: int) -> bool:
    """Read and drop the rest of a body; False when it went past DRAIN_LIMIT_BYTES (or the client left)."""
    while received <= DRAIN_LIMIT_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return False
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


# ---- the server ---------------------------------------------------------------------------------


def format_host(host: str) -> str:
    """A host as it appears in a URL (IPv6 addresses go in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def client_host(host: str) -> str:
    """Where a client on this machine reaches a server listening on `host`."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def port_in_use_message(host: str, port: int) -> str:
    return f"Port {port} on {host} is already in use; pick another with --port (or stop what is using it)."


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (IPv6 when the host has a colon); UserError when that is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Same option the standard library's servers set, so a port in TIME_WAIT after a restart is free.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # listening, not just bound, is what keeps another server off this port
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UserError(port_in_use_message(host, port)) from None
        if error.errno == errno.EACCES:
            raise UserError(f"Not allowed to listen on port {port} of {host}; pick a port above 1023.") from None
        raise UserError(f"Cannot listen on {host}:{port} ({error.strerror or error}); use host 127.0.0.1.") from None
    return sock


class Server:
    """An app served by uvicorn on a port claimed when the Server is made."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False):
        self.socket = bind(host, port)
        self.host = host
        config = uvicorn.Config(
            app,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            access_log=not quiet,
            log_level="warning" if quiet else "info",
            # Quiet servers run inside another program (tests): leave its logging configuration alone.
            log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._load_error: BaseException | None = None

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{format_host(client_host(self.host))}:{self.port}"

    def serve(self, load: Callable[[], None] | None = None) -> None:
        """Answer in this (the main) thread until SIGTERM or Ctrl+C, which finish the requests in flight.

        `load` runs in a thread meanwhile (the model, while /health says "loading"); if it raises, the server
        stops and the error is raised here.
        """
        if load is not None:
            threading.Thread(target=self._load, args=(load,), name="load-model", daemon=True).start()
        # uvicorn handles SIGTERM/SIGINT while it runs, then restores these handlers and re-raises the signal
        # to them: here that is a clean stop, not a death by signal (or a KeyboardInterrupt traceback).
        previous = {sig: signal.signal(sig, self._stop_on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.socket.close()
        if self._load_error is not None:
            raise self._load_error

    def start(self) -> Server:
        """Answer in a background thread (for tests); returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [self.socket]}, name="http-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The HTTP server thread did not start; see its log above.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop a server started with `start` (or never started) and free its port."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=GRACEFUL_SHUTDOWN_S + 5)
        self.socket.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _load(self, load: Callable[[], None]) -> None:
        try:
            load()
        except BaseException as error:  # reported by serve() in the main thread, after the server stops
            self._load_error = error
            self._uvicorn.should_exit = True

    def _stop_on_signal(self, signum: int, frame: object) -> None:
        # Also covers a signal that arrives before uvicorn has installed its own handlers.
        self._uvicorn.should_exit = True
