"""The kinds of data tunechat recognises (what `detect_shape` names a file), each once, with how it is called.

A kind is what the data is (labelled texts, chats, preference pairs, ...); a task (trainer/tasks/) is what is
trained on it, and says which kinds it takes. Code that needs a group of kinds uses the groups below instead of
spelling kind names out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataKind:
    name: str
    # What the chat calls data of this kind when it names what it is for.
    title: str
    # What a file of this kind "holds", in a sentence such as "'x.csv' holds <description>".
    description: str


KINDS: dict[str, DataKind] = {
    kind.name: kind
    for kind in (
        DataKind("chat-sft", "chat fine-tuning (OpenAI messages)", "conversations (OpenAI messages)"),
        DataKind("prompt-completion", "fine-tuning on prompt/completion pairs", "prompt/completion pairs"),
        DataKind("alpaca", "instruction fine-tuning (Alpaca format)", "instructions (Alpaca format)"),
        DataKind("sharegpt", "chat fine-tuning (ShareGPT conversations)", "conversations (ShareGPT format)"),
        DataKind(
            "preference",
            "preference tuning (DPO: prompt, chosen, rejected)",
            "preference pairs (prompt, chosen, rejected)",
        ),
        DataKind("kto", "KTO (answers marked good or bad)", "KTO examples (completions marked good or bad)"),
        DataKind("text-classification", "text classification", "text classification data (text and label)"),
        DataKind("text-pair-classification", "text-pair classification", "text-pair classification data"),
        DataKind("regression", "regression (predict a number from text)", "regression data (text and a number)"),
        DataKind("image-classification", "image classification", "image classification data"),
        DataKind("audio-classification", "audio classification", "audio classification data"),
        DataKind("text", "plain text without labels", "plain text without labels or answers"),
    )
}

# Conversations a causal LM trains on with supervised fine-tuning (all become OpenAI chat records).
CONVERSATIONS = ("chat-sft", "prompt-completion", "alpaca", "sharegpt")
# Everything a causal LM trains on: conversations, preference pairs and KTO's marked answers.
LANGUAGE_MODEL_DATA = (*CONVERSATIONS, "preference", "kto")
# Texts (or text pairs) with a class label.
LABELLED_TEXT = ("text-classification", "text-pair-classification")
# Files of images or sounds with a class label.
MEDIA = ("image-classification", "audio-classification")


def title(kind: str) -> str:
    """How the chat names what data of `kind` is for (the kind itself when unknown)."""
    found = KINDS.get(kind)
    return found.title if found else kind


def description(kind: str) -> str:
    """What a file of `kind` holds, for sentences like "'x.csv' holds ..."."""
    found = KINDS.get(kind)
    return found.description if found else f"{kind} data"
