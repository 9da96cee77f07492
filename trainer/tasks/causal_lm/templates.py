"""The chat template used when a model's tokenizer has none.

ChatML (`<|im_start|>role\\n...<|im_end|>`), with `{% generation %}` markers around each assistant
reply so TRL can compute the loss only on what the assistant says, including the end-of-turn token
(so the model learns to stop). The markers render to nothing.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}{{- '\\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")
# What using the default template means, said in the run's log and hardware.json.
DEFAULT_TEMPLATE_NOTE = (
    "The model has no chat template, so tunechat's default ChatML one is used (<|im_start|>role ... <|im_end|>): "
    "its markers are new tokens the model learns only from this data, and the saved model keeps the template, so "
    "chats sent to it later must use it too (tunechat serve does)."
)


def ensure_chat_template(tokenizer: Any, model: Any | None = None) -> str:
    """Give a tokenizer without a chat template the default one; return which template is in use and why.

    The ChatML markers are added as special tokens when missing, and the model's embeddings grown to match.
    """
    if getattr(tokenizer, "chat_template", None):
        return "the model's own chat template"
    missing = [token for token in CHATML_TOKENS if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
        if model is not None:
            model.resize_token_embeddings(len(tokenizer))
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    if tokenizer.eos_token is None:
        tokenizer.eos_token = "<|im_end|>"
    return DEFAULT_TEMPLATE_NOTE


def has_generation_markers(template: Any) -> bool:
    from trl.chat_template_utils import has_generation_markers as trl_has

    return bool(template) and bool(trl_has(template))
