"""The OpenAI-compatible API of a causal-LM run: POST /v1/chat/completions (one JSON response, or
server-sent events with "stream": true) and GET /v1/models, so the official `openai` client works.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from starlette.exceptions import HTTPException

from trainer.core.errors import UserError
from trainer.export import deployed
from trainer.serve.http import (
    ErrorStyle,
    ModelSlot,
    RequestBody,
    ServedApi,
    create_app,
    loading_response,
    refusal,
    sentence,
)
from trainer.serve.listen import Server
from trainer.tasks.causal_lm.generate import (
    DEFAULT_MAX_TOKENS,
    MAX_CHOICES,
    MAX_TOKENS,
    ChatModel,
    GenerationFailed,
    ModelBusy,
    Sampling,
)

EXAMPLE = 'send {"messages": [{"role": "user", "content": "Hello!"}]}'
logger = logging.getLogger("uvicorn.error")


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


ROLES = ("system", "user", "assistant", "tool")
PART_EXAMPLE = '{"type": "text", "text": "Hello!"}'


class Message(BaseModel):
    # Other fields of OpenAI's message (name, tool_calls, ...) pass through to the chat template.
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"] = Field(description="system, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = Field(
        None, description=f"The text, or a list of text parts like {PART_EXAMPLE}; null only for an assistant."
    )

    def for_template(self) -> dict[str, Any]:
        """The message as the chat template reads it: its content one string (text parts joined)."""
        message = self.model_dump(exclude_none=True)
        content = self.content
        if isinstance(content, list):
            content = "\n".join(part["text"] for part in content)
        message["content"] = content or ""
        return message


def check_messages(value: Any) -> Any:
    """Refuse, naming the place, what the chat template could not render: OpenAI's message shapes, text only."""
    if not isinstance(value, list) or not value:
        raise refusal(f"'messages' must be a non-empty list of messages; {EXAMPLE}")
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise refusal(f"'{where}' must be an object with a 'role' and a 'content'; {EXAMPLE}")
        if "role" not in message:
            raise refusal(f"'{where}.role' is missing; give every message one of {', '.join(ROLES)}")
        if message["role"] not in ROLES:
            raise refusal(f"'{where}.role' must be one of {', '.join(ROLES)}, not {_shown(message['role'])}")
        content = message.get("content")
        if content is None and message["role"] != "assistant":
            raise refusal(f"'content' is missing in {where}; every {message['role']} message needs its text")
        if content is None or isinstance(content, str):
            continue
        text_parts = isinstance(content, list) and all(
            isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            for part in content
        )
        if not text_parts:
            raise refusal(
                f"'content' in {where} must be a string or a list of text parts like {PART_EXAMPLE} "
                "(this model reads text only)"
            )
    return value


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def check_stop(value: Any) -> tuple[str, ...]:
    """OpenAI's `stop`: null, a string, or a list of up to MAX_STOPS non-empty strings."""
    if value is None:
        return ()
    strings = [value] if isinstance(value, str) else value
    if not isinstance(strings, list) or not all(isinstance(string, str) for string in strings):
        raise refusal(f"'stop' must be a string or a list of up to {MAX_STOPS} strings, not {_shown(value)}")
    if len(strings) > MAX_STOPS:
        raise refusal(
            f"'stop' holds {len(strings)} strings and may hold at most {MAX_STOPS}; keep the ones that matter"
        )
    if any(not string for string in strings):
        raise refusal("'stop' holds an empty string, which would end every reply at once; leave it out")
    if any(len(string) > MAX_STOP_CHARS for string in strings):
        raise refusal(f"Each 'stop' string may be at most {MAX_STOP_CHARS} characters long; send a shorter one")
    return tuple(strings)


def check_range(name: str, value: float | None, low: float, high: float) -> float | None:
    """A number of the request, within [low, high] (NaN is in no range)."""
    if value is not None and not low <= value <= high:
        raise refusal(f"'{name}' must be from {low:g} to {high:g}, not {value:g}")
    return value


# OpenAI's limits on stop strings: at most 4; ours on their length keeps the check on every token cheap.
MAX_STOPS = 4
MAX_STOP_CHARS = 512
SEED_RANGE = (-(2**63), 2**63 - 1)  # OpenAI's seed is a 64-bit integer


class StreamOptions(BaseModel):
    """OpenAI's stream_options; include_obfuscation and any other field are ignored."""

    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = Field(False, description="A last chunk with the usage and no choices.")


class ChatRequest(RequestBody):
    """The part of OpenAI's chat-completions request this server honours; other fields are ignored."""

    model: str | None = Field(None, description="Ignored: the server has one model.")
    messages: list[Message] = Field(min_length=1, description="The conversation so far, oldest first.")
    max_tokens: StrictInt | None = Field(
        None, description=f"Longest reply in tokens, 1 to {MAX_TOKENS} (default {DEFAULT_MAX_TOKENS})."
    )
    max_completion_tokens: StrictInt | None = Field(None, description="The same as max_tokens.")
    temperature: float | None = Field(None, description="0 to 2; 0 (the default) decodes greedily.")
    top_p: float | None = Field(None, description="0 to 1: nucleus sampling, when temperature is above 0.")
    n: StrictInt | None = Field(None, description=f"How many replies to sample, 1 to {MAX_CHOICES} (default 1).")
    seed: StrictInt | None = Field(None, description="Sampling with the same seed gives the same replies.")
    stop: tuple[str, ...] = Field(
        (), description=f"A string or up to {MAX_STOPS}: each reply ends before the first of them it writes."
    )
    stream: bool = Field(False, description="Answer with server-sent chat.completion.chunk events.")
    stream_options: StreamOptions | None = Field(
        None, description='Only with "stream": true; {"include_usage": true} adds a last chunk with the usage.'
    )

    @field_validator("messages", mode="before")
    @classmethod
    def _messages(cls, value: Any) -> Any:
        return check_messages(value)

    @field_validator("max_tokens", "max_completion_tokens")
    @classmethod
    def _tokens(cls, value: int | None, info: ValidationInfo) -> int | None:
        check_range(str(info.field_name), value, 1, MAX_TOKENS)
        return value

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, value: float | None) -> float | None:
        return check_range("temperature", value, 0, 2)

    @field_validator("top_p")
    @classmethod
    def _top_p(cls, value: float | None) -> float | None:
        return check_range("top_p", value, 0, 1)

    @field_validator("n")
    @classmethod
    def _n(cls, value: int | None) -> int | None:
        check_range("n", value, 1, MAX_CHOICES)
        return value

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int | None) -> int | None:
        if value is not None and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
            raise refusal("'seed' must be a 64-bit integer, from -2**63 to 2**63 - 1")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _stop(cls, value: Any) -> Any:
        return check_stop(value)

    @field_validator("stream_options", mode="before")
    @classmethod
    def _stream_options(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise refusal("'stream_options' must be an object like {\"include_usage\": true}")
        return value

    @model_validator(mode="after")
    def _options_need_a_stream(self) -> ChatRequest:
        if self.stream_options is not None and not self.stream:
            raise refusal("'stream_options' is only allowed when 'stream' is true; leave it out or stream the reply")
        return self

    def sampling(self) -> Sampling:
        return Sampling(
            max_new_tokens=self.max_tokens or self.max_completion_tokens or DEFAULT_MAX_TOKENS,
            temperature=self.temperature or 0.0,
            top_p=1.0 if self.top_p is None else self.top_p,
            n=self.n or 1,
            seed=self.seed,
            stop=self.stop,
        )

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def conversation(self) -> list[dict[str, Any]]:
        return [message.for_template() for message in self.messages]


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
        try:
            if not request.stream:
                return JSONResponse(chat.complete(request.conversation(), request.sampling()))
            chunks = chat.stream(request.conversation(), request.sampling(), include_usage=request.include_usage)
        except ModelBusy as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "30"}) from None
        except UserError as error:
            raise HTTPException(400, str(error)) from None
        except Exception as error:  # the server must keep answering whatever one generation does
            logger.exception("generation failed")
            message = f"The model failed on this request ({type(error).__name__}); see the server's log"
            raise HTTPException(500, message) from None
        return StreamingResponse(_events(chunks), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _events(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events; an error once the stream has started (a 200 already sent) is its last event, in
    the shape the openai client raises from."""
    try:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
    except Exception as error:
        logger.error("streamed generation failed: %s", error, exc_info=error.__cause__ or error)
        message = str(error) if isinstance(error, GenerationFailed) else f"The stream failed ({type(error).__name__})"
        yield f"data: {json.dumps(error_body(500, sentence(message)))}\n\n"
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
    return f"Serving {run} OpenAI-compatible at {url}/v1 (model {chat.model_id}: {chat.weights})"


API = ServedApi(
    create_app=create_chat_app,
    load=lambda run_dir: ChatModel.from_run(Path(run_dir)),
    banner=banner,
    client_info=client_info,
    parity=deployed.chat_parity,
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
