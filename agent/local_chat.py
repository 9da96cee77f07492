"""A local Transformers chat model as a LangChain chat model: tool calling and streaming, no server.

The folder is a causal LM saved with safetensors and a tokenizer with a chat template (Qwen2.5, Llama 3.x,
Mistral, a tunechat sft run's model/ ...). It loads with trust_remote_code=False and local files only, and
decodes greedily. Tools reach the model through the chat template (`apply_chat_template(tools=...)`);
a template that knows nothing of tools gets them as a system note asking for Hermes-style
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks. Those blocks (or a bare JSON object
with name and arguments) in the generated text become AIMessage.tool_calls.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from trainer.core.errors import UserError

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(re.escape(OPEN) + r"(.*?)(?:" + re.escape(CLOSE) + r"|$)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)

TOOL_NOTE = (
    "You can call tools. To call one, answer with only\n"
    '<tool_call>{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}</tool_call>\n'
    "and wait for its result. The tools, as JSON schemas:\n<tools>\n{tools}\n</tools>"
)


# ---- tool calls in generated text ---------------------------------------------------------------


def parse_tool_calls(text: str, tool_names: Sequence[str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Split generated text into (plain text, tool calls as LangChain dicts {name, args, id, type}).

    `<tool_call>` blocks whose JSON is an object with a "name" become calls ("arguments" or "parameters",
    an object or a JSON string of one); a malformed block stays in the text, so the user sees what the
    model said. Without blocks, a reply that is only a JSON object {"name", "arguments"} naming one of
    `tool_names` is a call too (models prompted without the tags often answer that way).
    """
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    position = 0
    for match in _BLOCK.finditer(text):
        call = _call_from_json(match.group(1))
        if call is None:
            continue  # malformed: left in the text
        kept.append(text[position : match.start()])
        position = match.end()
        calls.append(call)
    kept.append(text[position:])
    if calls:
        return "".join(kept).strip(), calls
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    candidate = fenced.group(1) if fenced else stripped
    if tool_names and candidate.startswith("{"):
        call = _call_from_json(candidate)
        if call is not None and call["name"] in tool_names:
            return "", [call]
    return text.strip(), []


def _call_from_json(raw: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw.strip())
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return {"name": obj["name"], "args": args, "id": f"call_{uuid.uuid4().hex[:16]}", "type": "tool_call"}


def _safe_prefix_end(text: str, start: int) -> int:
    """How much of text[start:] can be streamed now: everything before a possible tool call, and before a
    tail that could still grow into "<tool_call>"."""
    marker = text.find(OPEN, start)
    if marker != -1:
        return marker
    if text[start:].lstrip().startswith("{") and not text[:start].strip():
        return start  # the reply may be a bare JSON tool call: hold it all back
    for size in range(min(len(OPEN) - 1, len(text) - start), 0, -1):
        if OPEN.startswith(text[-size:]):
            return len(text) - size
    return len(text)


# ---- the model -----------------------------------------------------------------------------------


class LocalChatModel(BaseChatModel):
    """A causal LM folder on this machine. Weights load on the first turn, not at construction."""

    model_path: str
    max_new_tokens: int = 512
    device: str | None = None  # None: cuda when available, else cpu

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    # One generation at a time: several browser tabs share the model.
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "local-transformers"

    @property
    def model_name(self) -> str:
        return self.model_path

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "max_new_tokens": self.max_new_tokens}

    @property
    def resolved_device(self) -> str:
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded once: safetensors only, no remote code, no hub access."""
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = Path(self.model_path)
            if not any(folder.glob("*.safetensors")):
                raise UserError(f"{folder} has no .safetensors weights; tunechat loads only safetensors.")
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
            if not getattr(tokenizer, "chat_template", None):
                raise UserError(
                    f"The tokenizer in {folder} has no chat template; use an instruction-tuned (chat) model folder."
                )
            device = self.resolved_device
            model = AutoModelForCausalLM.from_pretrained(
                folder,
                trust_remote_code=False,
                local_files_only=True,
                use_safetensors=True,
                dtype="auto",  # as saved: a 7B bf16 model would need twice the memory in float32
            )
            model.to(device).eval()  # type: ignore[arg-type]  # transformers' stubs type .to oddly
            self._model, self._tokenizer = model, tokenizer
        return self._model, self._tokenizer

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools travel as OpenAI-style JSON schemas in the `tools` keyword (tool_choice is advisory here)."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    # -- prompt -------------------------------------------------------------------------------------

    def render_prompt(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] | None = None) -> str:
        """The prompt text the chat template makes of the messages and tool schemas."""
        _, tokenizer = self.load()
        template = str(tokenizer.chat_template)
        native_tools = "tools" in template
        conversation = chat_dicts(messages, native_tool_calls="tool_calls" in template)
        if tools and not native_tools:
            conversation = _with_tool_note(conversation, tools)
        options: dict[str, Any] = {"add_generation_prompt": True, "tokenize": False}
        if tools and native_tools:
            options["tools"] = list(tools)
        try:
            return str(tokenizer.apply_chat_template(conversation, **options))
        except Exception as error:  # jinja2 TemplateError: many templates allow only user/assistant turns
            if not any(m["role"] == "tool" for m in conversation):
                raise UserError(f"The chat template of {self.model_path} failed: {error}.") from error
            conversation = _tool_results_as_user_turns(conversation)
            return str(tokenizer.apply_chat_template(conversation, **options))

    def _inputs(self, prompt: str) -> dict[str, Any]:
        model, tokenizer = self.load()
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        return {key: value.to(model.device) for key, value in encoded.items()}

    def _generate_kwargs(self) -> dict[str, Any]:
        model, tokenizer = self.load()
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # Greedy: a tool-calling agent wants the same answer to the same question.
        return {"max_new_tokens": self.max_new_tokens, "do_sample": False, "pad_token_id": pad}

    # -- raw text generation --------------------------------------------------------------------------

    def generate_text(self, prompt: str) -> str:
        """The model's greedy continuation of the prompt, special tokens dropped."""
        import torch

        model, tokenizer = self.load()
        inputs = self._inputs(prompt)
        with self._lock, torch.inference_mode():
            output = model.generate(**inputs, **self._generate_kwargs())
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return str(tokenizer.decode(new_tokens, skip_special_tokens=True))

    def stream_text(self, prompt: str) -> Iterator[str]:
        """The same continuation as pieces of text, as the tokens are generated."""
        import torch
        from transformers import TextIteratorStreamer

        model, tokenizer = self.load()
        inputs = self._inputs(prompt)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600.0)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(**inputs, **self._generate_kwargs(), streamer=streamer)
            except BaseException as error:  # re-raised in the caller's thread below
                failure.append(error)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, name="local-llm-generate", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                worker.join()
        if failure:
            raise failure[0]

    # -- LangChain ------------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or []
        text = _cut_at_stop(self.generate_text(self.render_prompt(messages, tools)), stop)
        # Without bound tools nothing is a tool call: the text is the answer.
        content, calls = parse_tool_calls(text, _tool_names(tools)) if tools else (text.strip(), [])
        message = AIMessage(content=content, tool_calls=calls, response_metadata={"model_name": self.model_path})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        tools = kwargs.get("tools") or []
        text = ""
        sent = 0
        for piece in self.stream_text(self.render_prompt(messages, tools)):
            text += piece
            if stop and _cut_at_stop(text, stop) != text:
                text = _cut_at_stop(text, stop)
                break
            # Plain text streams at once; anything that may be a tool call is held back until the end.
            end = _safe_prefix_end(text, sent) if tools else len(text)
            if end > sent:
                yield self._chunk(text[sent:end], run_manager)
                sent = end
        rest = text[sent:]
        if tools and rest:
            content, calls = parse_tool_calls(rest, _tool_names(tools))
            if sent == 0:
                content = content.strip()
            chunks = [
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i, "type": "tool_call_chunk"}
                for i, c in enumerate(calls)
            ]
            final = ChatGenerationChunk(message=AIMessageChunk(content=content, tool_call_chunks=chunks))  # type: ignore[arg-type]
            if run_manager is not None:  # LangGraph's "messages" stream mode hears of the call through this
                run_manager.on_llm_new_token(content, chunk=final)
            yield final
        elif rest:
            yield self._chunk(rest, run_manager)

    def _chunk(self, piece: str, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
        if run_manager is not None:
            run_manager.on_llm_new_token(piece, chunk=chunk)
        return chunk


# ---- LangChain messages -> chat template dicts ------------------------------------------------------


def chat_dicts(messages: Sequence[BaseMessage], native_tool_calls: bool = True) -> list[dict[str, Any]]:
    """Messages as the dicts chat templates read. A template without tool-call support sees the model's
    earlier calls as the `<tool_call>` text it would have written."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message.text})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": message.text})
        elif isinstance(message, ToolMessage):
            out.append(
                {"role": "tool", "content": message.text, "tool_call_id": message.tool_call_id, "name": message.name}
            )
        elif isinstance(message, AIMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": message.text}
            if message.tool_calls:
                calls = [{"name": call["name"], "arguments": call["args"]} for call in message.tool_calls]
                if native_tool_calls:
                    entry["tool_calls"] = [
                        {"id": call.get("id"), "type": "function", "function": plain}
                        for call, plain in zip(message.tool_calls, calls, strict=True)
                    ]
                else:
                    blocks = "\n".join(f"{OPEN}{json.dumps(plain)}{CLOSE}" for plain in calls)
                    entry["content"] = (entry["content"] + "\n" + blocks).strip()
            out.append(entry)
        else:
            out.append({"role": "user", "content": message.text})
    return out


def _with_tool_note(conversation: list[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    note = TOOL_NOTE.format(tools="\n".join(json.dumps(tool) for tool in tools))
    if conversation and conversation[0]["role"] == "system":
        first = dict(conversation[0], content=f"{conversation[0]['content']}\n\n{note}")
        return [first, *conversation[1:]]
    return [{"role": "system", "content": note}, *conversation]


def _tool_results_as_user_turns(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for entry in conversation:
        if entry["role"] == "tool":
            turns.append({"role": "user", "content": f"<tool_response>\n{entry['content']}\n</tool_response>"})
        else:
            turns.append({key: value for key, value in entry.items() if key != "tool_calls"})
    return turns


def _tool_names(tools: Sequence[dict[str, Any]]) -> list[str]:
    return [str((tool.get("function") or {}).get("name") or tool.get("name")) for tool in tools]


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for word in stop or []:
        if word and word in text:
            text = text[: text.index(word)]
    return text
