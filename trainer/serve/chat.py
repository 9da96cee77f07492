"""Serve a causal-LM run through an OpenAI-compatible API: POST /v1/chat/completions (streaming with
server-sent events, or one JSON response) and GET /v1/models. Standard library HTTP server, bound to
127.0.0.1 by default; one generation at a time (a lock), which is what a CPU can do anyway.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json

DEFAULT_MAX_TOKENS = 128
MAX_BODY_BYTES = 1_000_000


def load_chat_model(run_dir: Path) -> tuple[Any, Any]:
    """The run's model/ folder: a LoRA adapter (merged into its base for speed) or full weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(run_dir) / "model"
    if not folder.is_dir():
        raise UserError(f"{run_dir} has no model/ folder; only a causal-LM run that succeeded can be served.")
    info = read_json(folder / "tunechat.json") if (folder / "tunechat.json").is_file() else {"kind": "full"}
    config = read_json(Path(run_dir) / "config.json") if (Path(run_dir) / "config.json").is_file() else {}
    remote = bool(config.get("trust_remote_code", False))
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    if info.get("kind") == "adapter":
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(
            info["base_model"], use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
        )
        if base.get_input_embeddings().num_embeddings != len(tokenizer):
            base.resize_token_embeddings(len(tokenizer))  # the default chat template added its markers
        model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
        )
    model.eval()
    return model, tokenizer


class ChatModel:
    """Generation behind the API: the chat template, greedy or sampled decoding, token counts."""

    def __init__(self, model: Any, tokenizer: Any, model_id: str):
        self.model, self.tokenizer, self.model_id = model, tokenizer, model_id
        self.run_id: int | None = None  # reported by /health so deploy_run knows it reached this run
        self.lock = threading.Lock()

    def _inputs(self, messages: list[dict[str, Any]]) -> Any:
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)

    def _generate_kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        temperature = float(body.get("temperature") or 0.0)
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(body.get("max_tokens") or body.get("max_completion_tokens") or DEFAULT_MAX_TOKENS),
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            kwargs["temperature"] = temperature
            kwargs["top_p"] = float(body.get("top_p") or 1.0)
        return kwargs

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        import torch

        inputs = self._inputs(body["messages"])
        with self.lock, torch.no_grad():
            output = self.model.generate(**inputs, **self._generate_kwargs(body))
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finished = bool(len(new)) and int(new[-1]) == self.tokenizer.eos_token_id
        prompt_tokens = int(inputs["input_ids"].shape[1])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop" if finished else "length",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": int(len(new)),
                "total_tokens": prompt_tokens + int(len(new)),
            },
        }

    def stream(self, body: dict[str, Any]) -> Any:
        """Yield chat.completion.chunk dicts as tokens are generated."""
        import torch
        from transformers import TextIteratorStreamer

        inputs = self._inputs(body["messages"])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def run() -> None:
            with torch.no_grad():
                self.model.generate(**inputs, **self._generate_kwargs(body), streamer=streamer)

        with self.lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            yield chunk({"role": "assistant", "content": ""})
            for piece in streamer:
                if piece:
                    yield chunk({"content": piece})
            worker.join()
        yield chunk({}, "stop")


def make_handler(chat: ChatModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise here
            pass

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/v1/models":
                model = {"id": chat.model_id, "object": "model", "created": 0, "owned_by": "tunechat"}
                self._json(200, {"object": "list", "data": [model]})
            elif path == "/health":
                self._json(200, {"status": "ok", "model": chat.model_id, "run_id": chat.run_id})
            else:
                self._error(404, f"No route {self.path}; use /v1/chat/completions or /v1/models.")

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
                self._error(404, f"No route {self.path}; use POST /v1/chat/completions.")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._error(413, "The request body is too large.")
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                messages = body["messages"]
                if not isinstance(messages, list) or not messages:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                self._error(400, "Send JSON with a non-empty 'messages' list of {role, content}.")
                return
            if not body.get("stream"):
                self._json(200, chat.complete(body))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for piece in chat.stream(body):
                self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


def make_server(run_dir: Path, host: str = "127.0.0.1", port: int = 8000, model_id: str | None = None) -> Any:
    from trainer.serve.classifier import port_in_use_message
    from trainer.tasks.text_classification.predict import run_id_from_dir

    try:
        # Claim the port before loading the model, so a busy port is refused at once.
        server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    except OSError as error:
        raise UserError(port_in_use_message(host, port)) from error
    model, tokenizer = load_chat_model(run_dir)
    chat = ChatModel(model, tokenizer, model_id or f"tunechat-{Path(run_dir).name}")
    chat.run_id = run_id_from_dir(Path(run_dir))
    server.RequestHandlerClass = make_handler(chat)
    return server


def serve_forever(run_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    server = make_server(run_dir, host, port)
    address = f"http://{server.server_address[0]}:{server.server_address[1]}/v1"
    print(
        f"Serving {Path(run_dir).name} OpenAI-compatible at {address} (model tunechat-{Path(run_dir).name})", flush=True
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """`python -m trainer.serve.chat --run-dir D --host H --port P`, as deploy_run starts it."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Serve a causal-LM run through an OpenAI-compatible API.")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        serve_forever(args.run_dir, args.host, args.port)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
