"""The regression API: `POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` answers
`[{"score": x}, ...]`, one predicted number per input in the target's units. Inputs are read as the classifier reads
them (TEI's `truncate` included; `top_k`, `function_to_apply` and `raw_scores` are a classifier's and refused), and
concurrent requests share forward passes. `GET /health` says which run is served, `GET /info` describes the model,
`GET /metrics` is Prometheus'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from trainer.export import deployed
from trainer.serve.classifier import STYLE, curl_example, encoder_batcher, encoder_info, use_idle_cores
from trainer.serve.classifier import client_info as classifier_client_info
from trainer.serve.encoder_batch import text_items
from trainer.serve.http import ModelSlot, ServedApi, create_app
from trainer.serve.text_inputs import PredictRequest, add_text_routes
from trainer.tasks.text_regression.predict import Regressor


class Prediction(BaseModel):
    score: float


def create_regressor_app(slot: ModelSlot[Regressor]) -> FastAPI:
    app = create_app("tunechat regression model", __doc__ or "", STYLE)
    batcher = encoder_batcher(app, slot)

    async def answer(regressor: Regressor, request: PredictRequest) -> list[dict[str, float]]:
        for name, given in (
            ("top_k", request.top_k),
            ("function_to_apply", request.parameters and request.parameters.function_to_apply),
            ("raw_scores", request.raw_scores),
        ):
            if given:
                raise HTTPException(400, f"This model predicts a number, so '{name}' does not apply; leave it out")
        rows = await batcher.answer(text_items(request.inputs, request.cut))
        return [{"score": row[0] * regressor.std + regressor.mean} for row in rows]

    def info(regressor: Regressor) -> dict[str, Any]:
        return {**encoder_info(regressor, batcher), "model_type": {"regressor": {"target": regressor.target}}}

    add_text_routes(
        app,
        slot,
        lambda regressor: {"target": regressor.target},
        answer,
        list[Prediction],
        "The predicted number for each input",
        info,
    )
    return app


def client_info(url: str, run_id: int) -> dict[str, Any]:
    """How to call a deployed regression model: as the classifier, with its own answer."""
    return {**classifier_client_info(url, run_id), "answers": "It answers one {score} per input"}


def banner(regressor: Regressor, url: str) -> str:
    run = f"run {regressor.run_id}" if regressor.run_id is not None else "the model"
    return f"Serving {run} (predicts '{regressor.target}') at {url}\nTry: {curl_example(url)}"


def load_regressor(run_dir: Path) -> Regressor:
    use_idle_cores()
    regressor = Regressor.from_run(Path(run_dir))
    assert isinstance(regressor, Regressor)  # from_run makes the class it is called on
    return regressor


API = ServedApi(
    create_app=create_regressor_app,
    load=load_regressor,
    banner=banner,
    client_info=client_info,
    parity=deployed.text_parity,
)
