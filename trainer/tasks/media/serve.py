"""The HTTP API of a media classifier, shaped like the Hugging Face Inference API's image/audio classification.

`POST /predict` (or `POST /`) takes one file as raw bytes (`Content-Type: image/*` or `audio/*`), one or more as
multipart form data, or JSON `{"inputs": "<base64>"}` / `{"inputs": ["<base64>", ...]}`; it answers a list of
`{"label", "score"}` (every class, best first) for one file, a list of such lists for a list. A file that cannot be
decoded gets 400 with one sentence. `GET /health` says which run is served.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import threading
from collections.abc import Sequence
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.workspace import run_id_from_dir
from trainer.serve.http import ErrorStyle, ModelSlot, ServedApi, create_app, loading_response
from trainer.tasks.media.modality import MediaModel, Modality

if TYPE_CHECKING:
    from trainer.export.parity import ParityReport

MAX_INPUTS = 32
# A photo or a recording is larger than a text: ten megabytes, a few photos or a minute of CD-quality sound.
MAX_BODY_BYTES = 10_000_000
# The content type the client sent: create_app reads every body as JSON, so it is kept under this header first.
SENT_TYPE = b"x-tunechat-sent-content-type"
logger = logging.getLogger("uvicorn.error")


class Classifier:
    """A trained media classifier in eval mode: files (bytes) in, every label with its score out."""

    label = "trained model (PyTorch)"  # as a parity responder (trainer/export/parity.py)

    def __init__(self, modality: Modality, model: MediaModel, run_id: int | None = None):
        self.modality, self.model, self.run_id = modality, model, run_id
        self.labels = model.labels
        self._lock = threading.Lock()  # one prediction at a time: the CPU is the bottleneck anyway

    @classmethod
    def from_run(cls, modality: Modality, run_dir: Path) -> Classifier:
        run_dir = Path(run_dir)
        run_id = run_id_from_dir(run_dir)
        name = f"Run {run_id}" if run_id is not None else f"The run folder '{run_dir}'"
        if not (run_dir / "model" / "config.json").is_file():
            raise UserError(f"{name} has no trained model yet; wait until it succeeds.")
        return cls(modality, modality.load_trained(run_dir / "model"), run_id)

    def predict(self, files: list[bytes]) -> list[list[dict[str, Any]]]:
        """For each file, every label with its probability, most likely first; UserError for unreadable bytes."""
        from trainer.tasks.media.predict import predict_probabilities

        items = []
        for index, data in enumerate(files):
            name = f"File {index + 1}" if len(files) > 1 else "The request body"
            try:
                items.append(self.modality.decode(data, name))
            except UserError as error:
                message = str(error).replace(f"'{name}'", name, 1).rstrip(".")
                raise UserError(f"{message}; send a readable {self.modality.noun} file.") from None
        with self._lock:
            rows = predict_probabilities(self.model, items)
        return [
            [
                {"label": label, "score": float(score)}
                for label, score in sorted(zip(self.labels, row, strict=True), key=lambda p: -p[1])
            ]
            for row in rows
        ]

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        """For each held-out file (a path inside the run's upload), {label: probability}: a parity responder."""
        answers = self.predict([Path(os.fspath(item)).read_bytes() for item in inputs])
        return [{entry["label"]: float(entry["score"]) for entry in answer} for answer in answers]


def served_parity(modality: Modality, run_dir: Path, url: str, api_key: str | None) -> ParityReport:
    """The run's classifier in this process against its server, on held-out files (deploy's parity check)."""
    from trainer.export.held_out import held_out_files
    from trainer.export.parity import DEPLOY_PROMPTS, FP32_TOLERANCE, compare_scores
    from trainer.export.served import HttpMediaScores

    config = read_json(Path(run_dir) / "config.json") if (Path(run_dir) / "config.json").is_file() else {}
    inputs = list(held_out_files(Path(run_dir), config, DEPLOY_PROMPTS, modality.readable))
    trained = Classifier.from_run(modality, run_dir)
    return compare_scores(trained, HttpMediaScores(url, api_key), inputs, tolerance=FP32_TOLERANCE)


class KeepContentType:
    """Copy the client's Content-Type to SENT_TYPE before create_app's middleware rewrites it to JSON."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            sent = [value for name, value in scope["headers"] if name == b"content-type"]
            scope = {**scope, "headers": [*scope["headers"], (SENT_TYPE, sent[0] if sent else b"")]}
        await self.app(scope, receive, send)


def _style(modality: Modality) -> ErrorStyle:
    noun = modality.noun
    example = (
        f"send the {noun} file as the body with Content-Type {modality.example_content_type}, as multipart form data, "
        f'or JSON {{"inputs": "<base64 of the {noun}>"}}'
    )
    return ErrorStyle(
        body=lambda status, message: {"error": message},
        example=example,
        routes="use POST /predict or GET /health",
        too_large_advice=f"send a smaller {noun} or fewer files",
        max_body_bytes=MAX_BODY_BYTES,
    )


def read_files(modality: Modality, content_type: str, body: bytes) -> tuple[list[bytes], bool]:
    """The files in a request body and whether a list was sent; HTTPException 400 with one sentence otherwise."""
    noun = modality.noun
    kind = content_type.split(";", 1)[0].strip().lower()
    if modality.accepts(kind) or kind == "application/octet-stream":
        if not body:
            raise HTTPException(400, f"The request body is empty; send the {noun} file's bytes")
        return [body], False
    if kind == "multipart/form-data":
        return _multipart(modality, content_type, body)
    try:
        document = json.loads(body or b"null")
    except (ValueError, RecursionError):
        raise HTTPException(
            400, f"The request body is neither {_a(noun)} file nor JSON; {_style(modality).example}"
        ) from None
    inputs = document.get("inputs") if isinstance(document, dict) else None
    many = isinstance(inputs, list)
    values: list[Any] = inputs if isinstance(inputs, list) else [inputs]
    if not values or not all(isinstance(v, str) for v in values):
        raise HTTPException(400, f"'inputs' must be a base64 string or a list of them; {_style(modality).example}")
    files: list[bytes] = []
    for value in values:
        text = str(value)
        try:
            files.append(base64.b64decode(text.split(",", 1)[-1] if text.startswith("data:") else text, validate=True))
        except (binascii.Error, ValueError):
            raise HTTPException(
                400, f"'inputs' is not valid base64; encode the {noun} file's bytes as base64"
            ) from None
    return files, many


def _multipart(modality: Modality, content_type: str, body: bytes) -> tuple[list[bytes], bool]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    files: list[bytes] = []
    if message.is_multipart():
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload:
                files.append(payload)
    if not files:
        raise HTTPException(400, f"The multipart form holds no file; attach the {modality.noun} as a form field")
    return files[: MAX_INPUTS + 1], len(files) > 1


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def create_media_app(modality: Modality, slot: ModelSlot[Classifier]) -> FastAPI:
    app = create_app(f"tunechat {modality.noun} classifier", __doc__ or "", _style(modality))
    app.add_middleware(KeepContentType)

    @app.get("/health", summary="Which run is served (503 while its model loads)")
    def health() -> JSONResponse:
        classifier = slot.value
        if classifier is None:
            return loading_response()
        return JSONResponse({"status": "ok", "run_id": classifier.run_id, "labels": classifier.labels})

    @app.post("/predict", summary="Every label's score for each file, best first")
    async def predict(request: Request) -> JSONResponse:
        classifier = slot.get()
        body = await request.body()
        files, many = read_files(modality, request.headers.get(SENT_TYPE.decode(), ""), body)
        if len(files) > MAX_INPUTS:
            raise HTTPException(400, f"The request has more than {MAX_INPUTS} files; split them into smaller requests")
        try:
            scored = classifier.predict(files)
        except UserError as error:
            raise HTTPException(400, str(error)) from None
        except Exception as error:  # the server must keep answering whatever one request does
            logger.exception("prediction failed")
            raise HTTPException(500, f"The model failed on this request ({error}); see serve.log") from None
        return JSONResponse(scored if many else scored[0])

    app.post("/", summary="The same as POST /predict")(predict)
    return app


def media_api(modality: Modality) -> ServedApi:
    noun, content = modality.noun, modality.example_content_type

    def curl(url: str) -> str:
        return f"curl -s {url}/predict -H 'Content-Type: {content}' --data-binary @my-{noun}-file"

    def client_info(url: str, run_id: int) -> dict[str, Any]:
        python = (
            "import json, urllib.request\n"
            f'data = open("my-{noun}-file", "rb").read()\n'
            f'request = urllib.request.Request("{url}/predict", data=data, headers={{"Content-Type": "{content}"}})\n'
            "print(json.load(urllib.request.urlopen(request)))"
        )
        return {"predict_url": f"{url}/predict", "curl": curl(url), "python": python}

    def banner(classifier: Classifier, url: str) -> str:
        run = f"run {classifier.run_id}" if classifier.run_id is not None else "the model"
        return f"Serving {run} ({', '.join(classifier.labels)}) at {url}\nTry: {curl(url)}"

    return ServedApi(
        create_app=lambda slot: create_media_app(modality, slot),
        load=lambda run_dir: Classifier.from_run(modality, Path(run_dir)),
        banner=banner,
        client_info=client_info,
        parity=functools.partial(served_parity, modality),
    )
