"""The regression API: `POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` answers
`[{"score": x}, ...]`, one predicted number per input in the target's units. `GET /health` says which run is served.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from trainer.serve.classifier import STYLE, curl_example
from trainer.serve.classifier import client_info as classifier_client_info
from trainer.serve.http import ModelSlot, ServedApi, create_app, loading_response
from trainer.serve.text_inputs import PredictRequest, check_kind
from trainer.tasks.text_regression.predict import Regressor

logger = logging.getLogger("uvicorn.error")


class Prediction(BaseModel):
    score: float


def create_regressor_app(slot: ModelSlot[Regressor]) -> FastAPI:
    app = create_app("tunechat regression model", __doc__ or "", STYLE)

    @app.get("/health", summary="Which run is served (503 while its model loads)")
    def health() -> JSONResponse:
        regressor = slot.value
        if regressor is None:
            return loading_response()
        return JSONResponse({"status": "ok", "run_id": regressor.run_id, "target": regressor.target})

    @app.post("/predict", summary="The predicted number for each input")
    def predict(request: PredictRequest) -> list[Prediction]:
        regressor = slot.get()
        check_kind(request.inputs, regressor.pairs)
        try:
            scored = regressor.predict(request.inputs.texts, pairs=request.inputs.pairs)
        except Exception as error:  # the server must keep answering whatever one request does
            logger.exception("prediction failed")
            raise HTTPException(500, f"The model failed on this request ({error}); see serve.log") from None
        return [Prediction(**item) for item in scored]

    app.post("/", summary="The same as POST /predict")(predict)
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
