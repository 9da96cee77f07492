"""The classifier API, shaped like the Hugging Face Inference API.

`POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` (a model trained on text
pairs takes `{"inputs": {"text": "...", "text_pair": "..."}}` or a list of those) answers with one list of
`{"label", "score"}` per input, every class, best first. `GET /health` says which run is served.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from trainer.serve.http import ErrorStyle, ModelSlot, ServedApi, create_app, loading_response
from trainer.serve.listen import Server
from trainer.serve.text_inputs import EXAMPLE, MAX_INPUTS, PredictRequest, check_kind
from trainer.tasks.text_classification.predict import Predictor

__all__ = ["MAX_INPUTS", "API", "make_server"]
STYLE = ErrorStyle(
    body=lambda status, message: {"error": message},
    example=EXAMPLE,
    routes="use POST /predict or GET /health",
    too_large_advice="send fewer texts",
)
logger = logging.getLogger("uvicorn.error")


class Score(BaseModel):
    label: str
    score: float


def create_classifier_app(slot: ModelSlot[Predictor]) -> FastAPI:
    app = create_app("tunechat classifier", __doc__ or "", STYLE)

    @app.get("/health", summary="Which run is served (503 while its model loads)")
    def health() -> JSONResponse:
        predictor = slot.value
        if predictor is None:
            return loading_response()
        return JSONResponse({"status": "ok", "run_id": predictor.run_id, "labels": predictor.labels})

    @app.post("/predict", summary="Every label's score for each input, best first")
    def predict(request: PredictRequest) -> list[list[Score]]:
        predictor = slot.get()
        # A plug-in task may serve its own model here: one with predict(texts) and no `pairs` takes single texts.
        check_kind(request.inputs, bool(getattr(predictor, "pairs", False)))
        texts, pairs = request.inputs.texts, request.inputs.pairs
        try:
            scored = predictor.predict(texts) if pairs is None else predictor.predict(texts, pairs=pairs)
        except Exception as error:  # the server must keep answering whatever one request does
            logger.exception("prediction failed")
            raise HTTPException(500, f"The model failed on this request ({error}); see serve.log") from None
        return [[Score(**item) for item in row] for row in scored]

    app.post("/", summary="The same as POST /predict")(predict)
    return app


def curl_example(url: str) -> str:
    return (
        f"curl -s {url}/predict -H 'Content-Type: application/json' "
        """-d '{"inputs": ["The food was great", "The service was awful"]}'"""
    )


def client_info(url: str, run_id: int) -> dict[str, Any]:
    """How to call a deployed classifier."""
    python = (
        "import json, urllib.request\n"
        f'request = urllib.request.Request("{url}/predict", '
        'data=json.dumps({"inputs": ["The food was great"]}).encode(), '
        'headers={"Content-Type": "application/json"})\n'
        "print(json.load(urllib.request.urlopen(request)))"
    )
    return {"predict_url": f"{url}/predict", "curl": curl_example(url), "python": python}


def banner(predictor: Predictor, url: str) -> str:
    run = f"run {predictor.run_id}" if predictor.run_id is not None else "the model"
    return f"Serving {run} ({', '.join(predictor.labels)}) at {url}\nTry: {curl_example(url)}"


API = ServedApi(
    create_app=create_classifier_app,
    load=lambda run_dir: Predictor.from_run(Path(run_dir)),
    banner=banner,
    client_info=client_info,
)


def make_server(predictor: Predictor | None, host: str = "127.0.0.1", port: int = 0, quiet: bool = False) -> Server:
    """A server for `predictor` in this process (port 0 picks a free port); call `start()` on it."""
    return Server(create_classifier_app(ModelSlot(predictor)), host, port, quiet=quiet)
