"""The `inputs` of a text model's request, as the Hugging Face Inference API takes them.

One text (`"some text"`), one text pair (`{"text": "...", "text_pair": "..."}`), or a list of either (all of one
kind, at most MAX_INPUTS). A model trained on pairs takes pairs and a model trained on single texts takes texts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator
from starlette.exceptions import HTTPException

from trainer.serve.http import ModelSlot, RequestBody, loading_response, refusal

MAX_INPUTS = 256
EXAMPLE = 'send {"inputs": "some text"} or {"inputs": ["text 1", "text 2"]}'
PAIR_EXAMPLE = 'send {"inputs": {"text": "first text", "text_pair": "second text"}} or a list of such pairs'
PAIR_KEYS = ("text", "text_pair")
logger = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class Texts:
    """The texts of a request, in order, and their second texts when they are pairs."""

    texts: list[str]
    pairs: list[str] | None


class PredictRequest(RequestBody):
    inputs: Any = Field(
        description=f"One text, one pair {{text, text_pair}}, or a list of up to {MAX_INPUTS} of either.",
        examples=["The food was great", ["The food was great", "The service was awful"]],
    )

    @field_validator("inputs", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if all(isinstance(item, str) for item in items):
            found = Texts(list(items), None)
        elif all(_is_pair(item) for item in items):
            found = Texts([item["text"] for item in items], [item["text_pair"] for item in items])
        elif any(isinstance(item, dict) for item in items):
            raise refusal(f"each pair in 'inputs' needs the strings 'text' and 'text_pair' only; {PAIR_EXAMPLE}")
        else:
            raise refusal(f"'inputs' must be a string or a list of strings; {EXAMPLE}")
        if not items:
            raise refusal("'inputs' is an empty list; send at least one text")
        if len(items) > MAX_INPUTS:
            raise refusal(
                f"'inputs' has {len(items)} texts, over the limit of {MAX_INPUTS}; split them into smaller requests"
            )
        return found


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, dict) and set(item) == set(PAIR_KEYS) and all(isinstance(item[key], str) for key in PAIR_KEYS)
    )


def check_kind(texts: Texts, trained_on_pairs: bool) -> None:
    """Refuse single texts for a model trained on pairs and pairs for one trained on single texts."""
    if trained_on_pairs and texts.pairs is None:
        raise HTTPException(400, f"This model was trained on text pairs; {PAIR_EXAMPLE}")
    if not trained_on_pairs and texts.pairs is not None:
        raise HTTPException(400, f"This model was trained on single texts, not pairs; {EXAMPLE}")


def add_text_routes(
    app: FastAPI,
    slot: ModelSlot[Any],
    describe: Callable[[Any], dict[str, Any]],
    answer: Callable[[Any, Texts], Any],
    response_model: Any,
    summary: str,
) -> None:
    """GET /health, and POST /predict (and POST /) answering `answer(model, texts)` for a text model's API.

    `describe(model)` adds to /health's answer (e.g. the labels). A model whose object has no `pairs` attribute
    (a plug-in task's own) takes single texts.
    """

    @app.get("/health", summary="Which run is served (503 while its model loads)")
    def health() -> JSONResponse:
        model = slot.value
        if model is None:
            return loading_response()
        return JSONResponse({"status": "ok", "run_id": model.run_id, **describe(model)})

    @app.post("/predict", summary=summary, response_model=response_model)
    def predict(request: PredictRequest) -> Any:
        model = slot.get()
        check_kind(request.inputs, bool(getattr(model, "pairs", False)))
        try:
            return answer(model, request.inputs)
        except Exception as error:  # the server must keep answering whatever one request does
            logger.exception("prediction failed")
            raise HTTPException(500, f"The model failed on this request ({error}); see serve.log") from None

    app.post("/", summary="The same as POST /predict", response_model=response_model)(predict)
