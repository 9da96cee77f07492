"""A small HTTP server for one run's classifier, shaped like the Hugging Face Inference API.

`POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` answers with one
list of `{"label", "score"}` per input, every class, best first. `GET /health` says which run is served.
Standard library only, so a deployment needs nothing beyond what training already installed.

Run it on its own: `python -m trainer.serve.classifier --run-dir ~/.tunechat/runs/run-3 --port 8000`.
"""

from __future__ import annotations

import argparse
import errno
import json
import signal
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.tasks.text_classification.predict import Predictor

MAX_INPUTS = 256
MAX_BODY_BYTES = 1_000_000
# A body up to this size is read and dropped before refusing it, so the client sees our answer
# instead of a connection reset; anything larger gets the answer and a closed connection.
DRAIN_LIMIT_BYTES = 16_000_000


class PredictionServer(ThreadingHTTPServer):
    """Holds the predictor the request handlers use."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], predictor: Predictor | None, quiet: bool = False):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.predictor = predictor
        self.quiet = quiet
        super().__init__(address, PredictionHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (e.g. a health probe that timed out while the model loaded) is not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{format_host(str(host))}:{port}"


class PredictionHandler(BaseHTTPRequestHandler):
    server: PredictionServer
    server_version = "tunechat-serving"

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        path = self.path.split("?", 1)[0]
        if path == "/health":
            predictor = self.server.predictor
            if predictor is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})
                return
            self._send(HTTPStatus.OK, {"status": "ok", "run_id": predictor.run_id, "labels": predictor.labels})
        elif path in ("/", "/predict"):
            self._error(
                HTTPStatus.METHOD_NOT_ALLOWED,
                'Use POST for /predict with a JSON body like {"inputs": "some text"}.',
            )
        else:
            self._not_found(path)

    def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        path = self.path.split("?", 1)[0]
        if path not in ("/", "/predict"):
            self._not_found(path)
            return
        body = self._read_body()
        if body is None:
            return
        texts = self._parse_inputs(body)
        if texts is None:
            return
        predictor = self.server.predictor
        if predictor is None:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "The model is still loading; try again in a few seconds.")
            return
        try:
            predictions = predictor.predict(texts)
        except Exception as error:  # the server must keep answering whatever one request does
            self.log_error("prediction failed: %r", error)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"The model failed on this request ({error}); see serve.log.")
            return
        self._send(HTTPStatus.OK, predictions)

    # ---- request parsing --------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self._error(HTTPStatus.BAD_REQUEST, "Send a JSON body with a Content-Length header.")
            return None
        if length > MAX_BODY_BYTES:
            if length <= DRAIN_LIMIT_BYTES:
                self._drain(length)
            self.close_connection = True
            self._error(
                HTTPStatus.BAD_REQUEST,
                f"The request body is {length} bytes, over the {MAX_BODY_BYTES} byte limit; send fewer texts.",
            )
            return None
        return self.rfile.read(length)

    def _drain(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)

    def _parse_inputs(self, body: bytes) -> list[str] | None:
        example = 'send {"inputs": "some text"} or {"inputs": ["text 1", "text 2"]}'
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._error(HTTPStatus.BAD_REQUEST, f"The request body is not valid JSON; {example}.")
            return None
        if not isinstance(payload, dict) or "inputs" not in payload:
            self._error(HTTPStatus.BAD_REQUEST, f"The request has no 'inputs' field; {example}.")
            return None
        inputs = payload["inputs"]
        if isinstance(inputs, str):
            return [inputs]
        if not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs):
            self._error(HTTPStatus.BAD_REQUEST, f"'inputs' must be a string or a list of strings; {example}.")
            return None
        if not inputs:
            self._error(HTTPStatus.BAD_REQUEST, "'inputs' is an empty list; send at least one text.")
            return None
        if len(inputs) > MAX_INPUTS:
            self._error(
                HTTPStatus.BAD_REQUEST,
                f"'inputs' has {len(inputs)} texts, over the limit of {MAX_INPUTS}; split them into smaller requests.",
            )
            return None
        return inputs

    # ---- responses --------------------------------------------------------------------------

    def _not_found(self, path: str) -> None:
        self._error(HTTPStatus.NOT_FOUND, f"There is no {path} here; use POST /predict or GET /health.")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, {"error": message})

    def _send(self, status: HTTPStatus, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        if not self.server.quiet:
            super().log_message(format, *args)


def format_host(host: str) -> str:
    """A host as it appears in a URL (IPv6 addresses go in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def port_in_use_message(host: str, port: int) -> str:
    return f"Port {port} on {host} is already in use; pick another with --port (or stop what is using it)."


def make_server(
    predictor: Predictor | None, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False
) -> PredictionServer:
    """Bind the server (port 0 picks a free port); call `serve_forever()` on the result to answer requests.

    `predictor` may be None and set later, so the port is claimed before the slow model load.
    """
    try:
        return PredictionServer((host, port), predictor, quiet=quiet)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UserError(port_in_use_message(host, port)) from None
        if error.errno == errno.EACCES:
            raise UserError(f"Not allowed to listen on port {port} of {host}; pick a port above 1023.") from None
        raise UserError(f"Cannot listen on {host}:{port} ({error.strerror or error}); use host 127.0.0.1.") from None


def curl_example(url: str) -> str:
    return (
        f"curl -s {url}/predict -H 'Content-Type: application/json' "
        """-d '{"inputs": ["The food was great", "The service was awful"]}'"""
    )


def serve_forever(run_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Claim the port, load the model, print how to call it and answer until interrupted."""
    server = make_server(None, host, port)
    # SIGTERM (what `stop_deployment` sends) should close the socket like Ctrl+C does.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.predictor = Predictor.from_run(Path(run_dir))
        run = f"run {server.predictor.run_id}" if server.predictor.run_id is not None else str(run_dir)
        print(f"Serving {run} ({', '.join(server.predictor.labels)}) at {server.url}", flush=True)
        print(f"Try: {curl_example(server.url)}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    finally:
        server.server_close()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.serve.classifier", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, type=Path, help="The run folder (runs/run-<id>).")
    parser.add_argument(
        "--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1: this machine only)."
    )
    parser.add_argument("--port", default=8000, type=int, help="Port to listen on (default 8000).")
    args = parser.parse_args(argv)
    try:
        serve_forever(args.run_dir, args.host, args.port)
    except UserError as error:
        # `deploy_run` reads this line from serve.log to explain why the server did not start.
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
