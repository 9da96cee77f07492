"""The classifier API, shaped like the Hugging Face Inference API and Text Embeddings Inference (TEI).

`POST /predict` (or `POST /`) with `{"inputs": "text"}` or `{"inputs": ["t1", "t2"]}` (a model trained on text
pairs takes `{"inputs": {"text": "...", "text_pair": "..."}}`, TEI's `[["text", "text pair"]]`, or a list of those)
answers with one list of `{"label", "score"}` per input, best first: every class, or the `parameters.top_k` best.
Scores are softmax probabilities unless `parameters.function_to_apply` says sigmoid or none (`raw_scores`: the
logits). Inputs longer than the model takes are cut unless `truncate` is false (then 413). Concurrent requests
share forward passes (dynamic batching). `GET /health` says which run is served, `GET /info` describes the model,
`GET /metrics` is Prometheus'.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from trainer.export import deployed
from trainer.serve.batching import Batcher
from trainer.serve.encoder_batch import TextItem, encoder_logits, text_items
from trainer.serve.http import ErrorStyle, ModelSlot, ServedApi, create_app
from trainer.serve.listen import Server
from trainer.serve.options import ServeOptions, batching_info, tunechat_version
from trainer.serve.text_inputs import EXAMPLE, MAX_INPUTS, PredictRequest, add_text_routes
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


def encoder_batcher(app: FastAPI, slot: ModelSlot[Any]) -> Batcher[TextItem]:
    """The batcher of an encoder run's app (kept in app.state, where the server's options reach it)."""
    batcher: Batcher[TextItem] = Batcher(
        lambda items: encoder_logits(slot.get(), items, batcher.max_batch), observer=app.state.metrics
    )
    app.state.batcher = batcher
    return batcher


def create_classifier_app(slot: ModelSlot[Predictor]) -> FastAPI:
    app = create_app("tunechat classifier", __doc__ or "", STYLE)
    batcher = encoder_batcher(app, slot)

    async def answer(model: Any, request: PredictRequest) -> list[list[dict[str, Any]]]:
        if not isinstance(model, Predictor):  # a plug-in task's model: its own probabilities, texts only
            return await _plugin_scores(model, request)
        function, texts = request.function(default_function(model)), request.inputs
        rows = await batcher.answer(text_items(texts, request.cut))
        return [ranked(model.labels, row, function, request.top_k) for row in rows]

    add_text_routes(
        app,
        slot,
        lambda predictor: {"labels": predictor.labels},
        answer,
        list[list[Score]],
        "Every label's score for each input (or the top_k best), best first",
        lambda predictor: classifier_info(predictor, batcher),
    )
    return app


def default_function(predictor: Predictor) -> str:
    """The Inference API's default: sigmoid for a multi-label or one-logit model, softmax otherwise."""
    config = predictor.model.config
    multi = getattr(config, "problem_type", None) == "multi_label_classification"
    return "sigmoid" if multi or len(predictor.labels) == 1 else "softmax"


def ranked(labels: list[str], logits: list[float], function: str, top_k: int | None) -> list[dict[str, Any]]:
    """The labels with their scores (`function` of the logits), best first, cut to `top_k`."""
    if function == "softmax":
        top = max(logits)
        exps = [math.exp(value - top) for value in logits]
        total = sum(exps)
        scores = [value / total for value in exps]
    elif function == "sigmoid":
        scores = [_sigmoid(value) for value in logits]
    else:
        scores = list(logits)
    order = sorted(zip(labels, scores, strict=True), key=lambda pair: pair[1], reverse=True)
    return [{"label": label, "score": score} for label, score in order[:top_k]]


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)  # never overflows for a negative value
    return exp / (1.0 + exp)


async def _plugin_scores(model: Any, request: PredictRequest) -> list[list[dict[str, Any]]]:
    if request.function("softmax") != "softmax":
        raise HTTPException(400, "This model answers probabilities only; leave out raw_scores and function_to_apply")
    inputs = request.inputs
    if inputs.pairs is None:
        scored = await run_in_threadpool(model.predict, inputs.texts)
    else:
        scored = await run_in_threadpool(lambda: model.predict(inputs.texts, pairs=inputs.pairs))
    return [[Score(**item).model_dump() for item in row][: request.top_k] for row in scored]


def classifier_info(predictor: Any, batcher: Batcher[TextItem]) -> dict[str, Any]:
    """/info, in the shape of TEI's (model_id, model_type.classifier.id2label, max_input_length, ...)."""
    labels = list(predictor.labels)
    return {
        **encoder_info(predictor, batcher),
        "model_type": {
            "classifier": {
                "id2label": {str(i): label for i, label in enumerate(labels)},
                "label2id": {label: i for i, label in enumerate(labels)},
            }
        },
        "labels": labels,
    }


def encoder_info(model: Any, batcher: Batcher[TextItem]) -> dict[str, Any]:
    """What /info says of any text model: which run and model, its input length, batching, the version."""
    network = getattr(model, "model", None)
    dtype = getattr(network, "dtype", None)
    return {
        "model_id": getattr(model, "model_id", None),
        "run_id": model.run_id,
        "model_dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
        "pairs": bool(getattr(model, "pairs", False)),
        "max_input_length": getattr(model, "max_length", None),
        "auto_truncate": True,
        "max_client_batch_size": MAX_INPUTS,
        "batching": batching_info(batcher),
        "version": tunechat_version(),
    }


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


def use_idle_cores() -> None:
    """One torch thread per core other processes leave idle, as training does (encoder_run.training_threads): on a
    busy machine a second thread keeps every operation waiting at its barrier, and a batched pass has more of them."""
    import torch

    from trainer.tasks.encoder_run import training_threads

    torch.set_num_threads(training_threads())


def load_predictor(run_dir: Path) -> Predictor:
    use_idle_cores()
    return Predictor.from_run(Path(run_dir))


API = ServedApi(
    create_app=create_classifier_app,
    load=load_predictor,
    banner=banner,
    client_info=client_info,
    parity=deployed.text_parity,
)


def make_server(
    predictor: Predictor | None,
    host: str = "127.0.0.1",
    port: int = 0,
    quiet: bool = False,
    options: ServeOptions | None = None,
) -> Server:
    """A server for `predictor` in this process (port 0 picks a free port); call `start()` on it."""
    return Server(create_classifier_app(ModelSlot(predictor)), host, port, quiet=quiet, options=options)
