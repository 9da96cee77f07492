"""The OpenAI-compatible API of a causal-LM run: POST /v1/chat/completions (one JSON response, or
server-sent events with "stream": true) and GET /v1/models, so the official `openai` client works.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from trainer.serve.http import (
    ErrorStyle,
    ModelSlot,
    RequestBody,
    ServedApi,
    create_app,
    loading_response,
    refusal,
)
from trainer.serve.listen import Server
from trainer.tasks.causal_lm.generate import DEFAULT_MAX_TOKENS, ChatModel, Sampling

EXAMPLE = 'send {"messages": [{"role": "user", "content": "Hello!"}]}'


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "code": status}}


STYLE = ErrorStyle(
    body=error_body,
    example=EXAMPLE,
    routes="use POST /v1/chat/completions or GET /v1/models",
    too_large_status=413,
    too_large_advice="send a shorter conversation",
)


class Message(BaseModel):
    # Other fields of OpenAI's message (name, tool_calls, ...) pass through to the chat template.
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = Field(None, description="The text (or OpenAI content parts).")

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any) -> Any:
        if value is None or isinstance(value, str) or isinstance(value, list):
            return value
        raise refusal(f"A message's 'content' must be a string or a list of content parts; {EXAMPLE}")


class ChatRequest(RequestBody):
    """The part of OpenAI's chat-completions request this server honours; other fields are ignored."""

    model: str | None = Field(None, description="Ignored: the server has one model.")
    messages: list[Message] = Field(min_length=1, description="The conversation so far, oldest first.")
    max_tokens: int | None = Field(None, ge=1, description=f"Longest reply in tokens (default {DEFAULT_MAX_TOKENS}).")
    max_completion_tokens: int | None = Field(None, ge=1, description="The same as max_tokens.")
    temperature: float | None = Field(None, ge=0, le=2, description="0 (the default) decodes greedily.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling, when temperature is above 0.")
    stream: bool = Field(False, description="Answer with server-sent chat.completion.chunk events.")

    def sampling(self) -> Sampling:
        return Sampling(
            max_new_tokens=self.max_tokens or self.max_completion_tokens or DEFAULT_MAX_TOKENS,
            temperature=self.temperature or 0.0,
            top_p=self.top_p or 1.0,
        )

    def conversation(self) -> list[dict[str, Any]]:
        return [message.model_dump(exclude_none=True) for message in self.messages]


def create_chat_app(slot: ModelSlot[ChatModel]) -> FastAPI:
    app = create_app("tunechat chat", __doc__ or "", STYLE)

    @app.get("/health", summary="Which run is served (503 while its model loads)")
    def health() -> JSONResponse:
        chat = slot.value
        if chat is None:
            return loading_response()
        return JSONResponse({"status": "ok", "model": chat.model_id, "run_id": chat.run_id})

    @app.get("/v1/models", summary="The one model served")
    def models() -> dict[str, Any]:
        model = {"id": slot.get().model_id, "object": "model", "created": 0, "owned_by": "tunechat"}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions", summary="A chat completion, streamed as server-sent events or not")
    def completions(request: ChatRequest) -> Response:
        chat = slot.get()
        if not request.stream:
            return JSONResponse(chat.complete(request.conversation(), request.sampling()))
        events = _events(chat.stream(request.conversation(), request.sampling()))
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _events(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


def client_info(url: str, run_id: int) -> dict[str, Any]:
    """How to call a deployed chat model: the official openai client pointed at the server's /v1."""
    model = f"tunechat-run-{run_id}"
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
    python = (
        "from openai import OpenAI\n"
        f'client = OpenAI(base_url="{url}/v1", api_key="unused")\n'
        f'reply = client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hello!"}}])\n'
        "print(reply.choices[0].message.content)"
    )
    return {
        "chat_url": f"{url}/v1/chat/completions",
        "curl": f"curl -s {url}/v1/chat/completions -H 'Content-Type: application/json' -d '{body}'",
        "python": python,
    }


def banner(chat: ChatModel, url: str) -> str:
    run = f"run {chat.run_id}" if chat.run_id is not None else "the model"
    return f"Serving {run} OpenAI-compatible at {url}/v1 (model {chat.model_id})"


API = ServedApi(
    create_app=create_chat_app,
    load=lambda run_dir: ChatModel.from_run(Path(run_dir)),
    banner=banner,
    client_info=client_info,
)


def make_server(run_dir: Path, host: str = "127.0.0.1", port: int = 0, quiet: bool = False) -> Server:
    """A server for the run's chat model in this process, its model loaded; call `start()` on it."""
    slot: ModelSlot[ChatModel] = ModelSlot()
    server = Server(create_chat_app(slot), host, port, quiet=quiet)  # the port first: a busy one fails at once
    try:
        slot.value = ChatModel.from_run(Path(run_dir))
    except BaseException:
        server.stop()
        raise
    return server
