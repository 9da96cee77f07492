"""Parity after a deployment: the run in this process against what its server answers over HTTP.

Each served API names its check (`ServedApi.parity`, trainer/serve/http.py): chat models through the OpenAI
API, text classifiers and regressors through /predict with texts (media classifiers: trainer/tasks/media/serve.py).
A check asks few prompts with short answers: it runs right after every deploy, while the user waits.
"""

from __future__ import annotations

from pathlib import Path

from trainer.export.parity import DEPLOY_PROMPTS, DEPLOY_TOKENS, FP32_TOLERANCE, ParityReport


def chat_parity(run_dir: Path, url: str, api_key: str | None, limit: int = DEPLOY_PROMPTS) -> ParityReport:
    """The run as trained (transformers, in this process) against the chat server, greedy."""
    from trainer.export.chat_forms import TransformersChat, held_out_prompts
    from trainer.export.parity import compare_chat
    from trainer.export.served import HttpChat

    trained = TransformersChat.trained(run_dir)
    return compare_chat(trained, HttpChat(url, api_key), held_out_prompts(run_dir, limit), DEPLOY_TOKENS)


def text_parity(run_dir: Path, url: str, api_key: str | None, limit: int = DEPLOY_PROMPTS) -> ParityReport:
    """The run's classifier or regressor in this process against its server, on held-out texts."""
    from trainer.export.held_out import held_out_texts
    from trainer.export.onnx_scores import TrainedText
    from trainer.export.parity import compare_scores
    from trainer.export.served import HttpScores

    trained = TrainedText.from_run(run_dir)
    inputs = held_out_texts(run_dir, limit, trained.pairs)
    return compare_scores(trained, HttpScores(url, api_key), inputs, tolerance=FP32_TOLERANCE)
