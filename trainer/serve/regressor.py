"""The regression API: `POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` answers
`[{"score": x}, ...]`, one predicted number per input in the target's units. `GET /health` says which run is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from trainer.serve.classifier import STYLE, curl_example
from trainer.serve.classifier import client_info as classifier_client_info
from trainer.serve.http import ModelSlot, ServedApi, create_app
from trainer.serve.text_inputs import add_text_routes
from trainer.tasks.text_regression.predict import Regressor


class Prediction(BaseModel):
    score: float


def create_regressor_app(slot: ModelSlot[Regressor]) -> FastAPI:
    app = create_app("tunechat regression model", __doc__ or "", STYLE)
    add_text_routes(
        app,
        slot,
        lambda regressor: {"target": regressor.target},
        lambda regressor, inputs: [Prediction(**item) for item in regressor.predict(inputs.texts, pairs=inputs.pairs)],
        list[Prediction],
        "The predicted number for each input",
    )
    return app


def client_info(url: str, run_id: int) -> dict[str, Any]:
    """How to call a deployed regression model: as the classifier, with its own answer."""
    return {**classifier_client_info(url, run_id), "answers": "It answers one {score} per input"}


def banner(regressor: Regressor, url: str) -> str:
    run = f"run {regressor.run_id}" if regressor.run_id is not None else "the model"
    return f"Serving {run} (predicts '{regressor.target}') at {url}\nTry: {curl_example(url)}"


API = ServedApi(
    create_app=create_regressor_app,
    load=lambda run_dir: Regressor.from_run(Path(run_dir)),
    banner=banner,
    client_info=client_info,
)
