"""A text model's request, as the Hugging Face Inference API and Text Embeddings Inference (TEI) take it.

`inputs`: one text (`"some text"`), one text pair (`{"text": "...", "text_pair": "..."}`), a list of either, or
TEI's batch of lists (`[["text"], ...]` or `[["text", "text pair"], ...]`); all of one kind, at most MAX_INPUTS.
A model trained on pairs takes pairs and a model trained on single texts takes texts. Beside it: TEI's `truncate`
and `raw_scores`, and the Inference API's `parameters` (`top_k`, `function_to_apply`, `truncate`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator, model_validator
from starlette.exceptions import HTTPException

from trainer.serve.http import ModelSlot, RequestBody, error_style, loading_response, refusal, sentence

MAX_INPUTS = 256
EXAMPLE = 'send {"inputs": "some text"} or {"inputs": ["text 1", "text 2"]}'
PAIR_EXAMPLE = 'send {"inputs": {"text": "first text", "text_pair": "second text"}} or a list of such pairs'
PAIR_KEYS = ("text", "text_pair")
FUNCTIONS = ("softmax", "sigmoid", "none")
logger = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class Texts:
    """The texts of a request, in order, and their second texts when they are pairs."""

    texts: list[str]
    pairs: list[str] | None


class Parameters(BaseModel):
    """The Hugging Face Inference API's `parameters` of text classification."""

    top_k: StrictInt | None = Field(None, ge=1, description="Answer only the k best labels of each input.")
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        None, description="softmax (one label per input), sigmoid (each label on its own) or none (the raw logits)."
    )
    truncate: StrictBool | None = Field(None, description="The same as the top-level truncate.")

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise refusal("'parameters' must be an object such as {\"top_k\": 1}")
        unknown = sorted(str(key) for key in data if key not in cls.model_fields)
        if unknown:
            raise refusal(
                f"'parameters.{unknown[0]}' is not a parameter of this API; use top_k, function_to_apply or truncate"
            )
        return data


class PredictRequest(RequestBody):
    inputs: Any = Field(
        description=(
            f"One text, one pair {{text, text_pair}}, or a list of up to {MAX_INPUTS} of either "
            '(or TEI\'s [["text"], ...] and [["text", "text pair"], ...]).'
        ),
        examples=["The food was great", ["The food was great", "The service was awful"]],
    )
    parameters: Parameters | None = Field(None, description="top_k, function_to_apply, truncate.")
    truncate: StrictBool | None = Field(
        None, description="Cut inputs longer than the model takes (the default); false refuses them with a 413."
    )
    raw_scores: StrictBool | None = Field(None, description="Answer the raw logits (function_to_apply none).")

    @model_validator(mode="after")
    def _consistent(self) -> PredictRequest:
        given = self.parameters or Parameters.model_validate({})
        if self.truncate is not None and given.truncate is not None and self.truncate != given.truncate:
            raise refusal("'truncate' and 'parameters.truncate' disagree; send only one of them")
        if self.raw_scores and given.function_to_apply not in (None, "none"):
            raise refusal("'raw_scores' true asks for the logits, so 'function_to_apply' must be none or left out")
        return self

    @property
    def cut(self) -> bool:
        """Whether inputs over the model's length are cut (TEI's truncate; cut unless told otherwise)."""
        given = self.parameters.truncate if self.parameters is not None else None
        return next((flag for flag in (self.truncate, given) if flag is not None), True)

    def function(self, default: str) -> str:
        """The function turning logits into scores: none for raw_scores, else the one asked for, else `default`."""
        if self.raw_scores:
            return "none"
        asked = self.parameters.function_to_apply if self.parameters is not None else None
        return asked or default

    @property
    def top_k(self) -> int | None:
        return self.parameters.top_k if self.parameters is not None else None

    @field_validator("inputs", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if all(isinstance(item, str) for item in items):
            found = Texts(list(items), None)
        elif all(_is_pair(item) for item in items):
            found = Texts([item["text"] for item in items], [item["text_pair"] for item in items])
        elif all(_is_sequence(item) for item in items):
            found = _sequences(items)
        elif any(isinstance(item, list) for item in items):
            raise refusal(
                "each list in 'inputs' must be [text] or [text, text pair] of strings; "
                'send [["first text"], ["second text"]] or a list of strings'
            )
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


def _is_sequence(item: Any) -> bool:
    """TEI's form of one input: [text] or [text, text pair]."""
    return isinstance(item, list) and len(item) in (1, 2) and all(isinstance(part, str) for part in item)


def _sequences(items: list[Any]) -> Texts:
    if all(len(item) == 1 for item in items):
        return Texts([item[0] for item in items], None)
    if all(len(item) == 2 for item in items):
        return Texts([item[0] for item in items], [item[1] for item in items])
    raise refusal("'inputs' mixes single texts [text] and pairs [text, text pair]; send one kind per request")


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
    answer: Callable[[Any, PredictRequest], Awaitable[list[Any]]],
    response_model: Any,
    summary: str,
    info: Callable[[Any], dict[str, Any]],
) -> None:
    """GET /health, GET /info, and POST /predict (and POST /) answering `answer(model, request)` for a text model.

    `describe(model)` adds to /health's answer (e.g. the labels), `info(model)` is /info's (TEI's shape). A model
    whose object has no `pairs` attribute (a plug-in task's own) takes single texts. An exception with a
    `status_code` (a text too long to cut: 413) is answered with its sentence in the API's error shape.
    """
    style = error_style(app)

    @app.get("/health", summary="Which run is served (503 while its model loads); open without the API key")
    def health() -> JSONResponse:
        model = slot.value
        if model is None:
            return loading_response()
        return JSONResponse({"status": "ok", "run_id": model.run_id, **describe(model)})

    @app.get("/info", summary="The served model: its id, labels, input length and batching, as TEI's /info")
    def model_info() -> JSONResponse:
        model = slot.value
        if model is None:
            return loading_response()
        return JSONResponse(info(model))

    @app.post("/predict", summary=summary, response_model=response_model)
    async def predict(request: PredictRequest) -> Any:
        model = slot.get()
        check_kind(request.inputs, bool(getattr(model, "pairs", False)))
        try:
            # Plain JSON, not re-validated against response_model (which documents it): a few hundred microseconds a
            # request that a busy server spends on its forward passes instead.
            return JSONResponse(await answer(model, request))
        except HTTPException:
            raise
        except Exception as error:  # the server must keep answering whatever one request does
            status = getattr(error, "status_code", None)
            if isinstance(status, int) and style is not None:
                return JSONResponse(style.body(status, sentence(str(error))), status_code=status)
            logger.exception("prediction failed")
            raise HTTPException(500, f"The model failed on this request ({error}); see serve.log") from None

    app.post("/", summary="The same as POST /predict", response_model=response_model)(predict)
