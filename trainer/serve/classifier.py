"""The classifier API, shaped like the Hugging Face Inference API.

`POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` (a model trained on text
pairs takes `{"inputs": {"text": "...", "text_pair": "..."}}` or a list of those) answers with one list of
`{"label", "score"}` per input, every class, best first. `GET /health` says which run is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from trainer.serve.http import ErrorStyle, ModelSlot, ServedApi, create_app
from trainer.serve.listen import Server
from trainer.serve.text_inputs import EXAMPLE, MAX_INPUTS, Texts, add_text_routes
from trainer.tasks.text_classification.predict import Predictor

__all__ = ["MAX_INPUTS", "API", "make_server"]
STYLE = ErrorStyle(
    body=lambda status, message: {"error": message},
    example=EXAMPLE,
    routes="use POST /predict or GET /health",
    too_large_advice="send fewer texts",
)


class Score(BaseModel):
    label: str
    score: float


def create_classifier_app(slot: ModelSlot[Predictor]) -> FastAPI:
    app = create_app("tunechat classifier", __doc__ or "", STYLE)
    add_text_routes(
        app,
        slot,
        lambda predictor: {"labels": predictor.labels},
        _scores,
        list[list[Score]],
        "Every label's score for each input, best first",
    )
    return app


def _scores(predictor: Predictor, inputs: Texts) -> list[list[Score]]:
    if inputs.pairs is None:  # a plug-in task's model may take texts only
        scored = predictor.predict(inputs.texts)
    else:
        scored = predictor.predict(inputs.texts, pairs=inputs.pairs)
    return [[Score(**item) for item in row] for row in scored]


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
