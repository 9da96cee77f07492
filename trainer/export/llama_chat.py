"""A GGUF file run by llama.cpp (through llama-cpp-python) as a parity responder.

It answers as llama-cpp-python's own chat completion does with this file: the chat template from the file's
tokenizer.chat_template metadata, rendered by its Jinja2ChatFormatter with the file's BOS and EOS text, the
prompt tokenized by llama.cpp's tokenizer (special tokens parsed, no BOS added: the template writes its own),
and generation ending at any token llama.cpp counts as an end of generation (the file's EOS and EOT, and the
markers llama.cpp recognises by name). Decoding is greedy: the highest logit at every step (top_k 1, temperature
0, no repetition penalty), like the trained model's greedy answer it is compared with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.export.parity import ChatAnswer, Messages

CONTEXT = 2048


class LlamaCppChat:
    """One GGUF file loaded in llama.cpp."""

    def __init__(self, path: Path, label: str, n_ctx: int = CONTEXT):
        try:
            from llama_cpp import Llama, llama_chat_format
        except ImportError as error:
            raise UserError(
                "Running a GGUF needs llama-cpp-python; run `pip install llama-cpp-python` and check again."
            ) from error
        self.label = label
        self.llm: Any = Llama(model_path=str(path), n_ctx=n_ctx, verbose=False, seed=0, n_threads=2)
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise UserError(f"{path.name} holds no chat template (tokenizer.chat_template); export it again.")
        self.eos = int(self.llm.token_eos())
        bos = int(self.llm.token_bos())
        model = self.llm._model
        self.formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(self.eos) if self.eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[self.eos],
        )

    def render(self, messages: Messages) -> str | None:
        return str(self.formatter(messages=messages).prompt)  # type: ignore[arg-type]

    def _ends_turn(self, token: int) -> bool:
        import llama_cpp

        return token == self.eos or bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    def answer(self, messages: Messages, max_tokens: int) -> ChatAnswer:
        prompt = self.llm.tokenize(str(self.render(messages)).encode("utf-8"), add_bos=False, special=True)
        self.llm.reset()
        kept: list[int] = []
        stopped = False
        for token in self.llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            if self._ends_turn(int(token)):
                stopped = True
                break
            kept.append(int(token))
            if len(kept) >= max_tokens:
                break
        text = self.llm.detokenize(kept).decode("utf-8", errors="replace")
        if not stopped:
            text = text.rstrip("\ufffd")
        return ChatAnswer(text=text, finish_reason="stop" if stopped else "length", token_ids=tuple(kept))

    def close(self) -> None:
        self.llm.close()
