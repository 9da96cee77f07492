"""Where a model server listens: the port claimed before the slow model load, and uvicorn serving the app.

A `Server` binds its port when it is made (so a busy port is refused at once while /health says "loading"),
answers in the foreground until SIGTERM or Ctrl+C (uvicorn's graceful shutdown), or in a thread for tests.
Requests that are not valid HTTP (a negative Content-Length, say) are refused by uvicorn's HTTP parser before
any app sees them; `Server` makes that refusal a JSON answer in the API's own error shape too.
"""

from __future__ import annotations

import asyncio
import errno
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from trainer.core.errors import UserError
from trainer.serve.access import exposure_warning
from trainer.serve.http import error_style
from trainer.serve.options import ServeOptions, configure

# How long a stopping server lets a request in flight (a generation, say) finish before cancelling it;
# deploy's stop waits 10 s before it kills.
GRACEFUL_SHUTDOWN_S = 5
# How long a refused connection is kept half-open for the client to read the answer before it is closed.
LINGER_S = 2.0
MALFORMED_REQUEST = (
    "The request is not valid HTTP (a bad Content-Length or header, say); send it again with an HTTP client "
    "such as curl"
)


class LingeringClose:
    """A connection's transport whose close() half-closes first and drops what the client still sends.

    Closing a socket with request bytes unread makes the kernel reset the connection, and a reset can destroy
    the answer before the client has read it (a client still sending a 20 MB body when it is refused, say). So
    the answer is followed by end-of-stream, the rest of the request is read and dropped, and the socket
    closes when the client closes its side, or after LINGER_S.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self.lingering = False

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        self.lingering = True
        try:
            if self._transport.can_write_eof():
                self._transport.write_eof()  # sent after the queued answer
        except OSError:  # the client is gone already: nothing to linger for
            self._transport.close()
            return
        self._loop.call_later(LINGER_S, self._transport.close)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def finish(self) -> None:
        """Close now: the client has read the answer and closed its side."""
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def json_refusals(body: bytes) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol whose answer to a request it cannot parse is `body` (JSON), not plain text,
    and whose connections close without a reset (LingeringClose)."""

    class JsonRefusals(H11Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.lingering_close = LingeringClose(transport, self.loop)  # type: ignore[arg-type]
            super().connection_made(self.lingering_close)  # type: ignore[arg-type]

        def data_received(self, data: bytes) -> None:
            if not self.lingering_close.lingering:  # after the answer to a refused request: dropped
                super().data_received(data)

        def eof_received(self) -> None:
            if self.lingering_close.lingering:
                self.lingering_close.finish()
                return
            super().eof_received()

        def send_400_response(self, msg: str) -> None:
            if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
                # A response is already under way on this connection (the garbage came after a request):
                # h11 cannot start another, so the connection just closes.
                self.transport.close()
                return
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            self.transport.close()

    return JsonRefusals


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
    """An app served by uvicorn on a port claimed when the Server is made, with its options (API key, batching).

    A server that listens beyond this machine without an API key prints a warning (`warning`).
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 8000,
        quiet: bool = False,
        options: ServeOptions | None = None,
    ):
        self.socket = bind(host, port)
        self.host = host
        self.options = options or ServeOptions()
        style = error_style(app)
        if style is None and self.options.api_key:
            raise ValueError("Only an app made by trainer.serve.http.create_app can require an API key.")
        configure(app, self.options)
        self._app = app
        self.warning = exposure_warning(host, self.options.api_key)
        if self.warning:
            print(self.warning, file=sys.stderr, flush=True)
        refusal = json.dumps(style.body(400, f"{MALFORMED_REQUEST}.") if style else {"error": f"{MALFORMED_REQUEST}."})
        config = uvicorn.Config(
            app,
            # h11 always (never httptools, even when installed): the parser whose refusals are tested.
            http=json_refusals(refusal.encode()),
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
        batcher = getattr(self._app.state, "batcher", None)
        if batcher is not None:
            batcher.close()

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
