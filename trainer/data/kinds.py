"""The kinds of data tunechat recognises (what `detect_shape` names a file), each once, with how it is called.

A kind is what the data is (labelled texts, chats, preference pairs, ...); a task (trainer/tasks/) is what is
trained on it, and says which kinds it takes. This module is the one place kind names are spelled: code elsewhere
uses the constants and groups below, and ALIASES for the words people use for their data (--task, "treat it as").
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


# The kinds, by name. Everywhere else names a kind through these (or the groups below), never by its spelling.
CHAT_SFT = "chat-sft"
PROMPT_COMPLETION = "prompt-completion"
ALPACA = "alpaca"
SHAREGPT = "sharegpt"
PREFERENCE = "preference"
KTO = "kto"
TEXT_CLASSIFICATION = "text-classification"
TEXT_PAIR_CLASSIFICATION = "text-pair-classification"
REGRESSION = "regression"
IMAGE_CLASSIFICATION = "image-classification"
AUDIO_CLASSIFICATION = "audio-classification"
TEXT = "text"

KINDS: dict[str, DataKind] = {
    kind.name: kind
    for kind in (
        DataKind(CHAT_SFT, "chat fine-tuning (OpenAI messages)", "conversations (OpenAI messages)"),
        DataKind(PROMPT_COMPLETION, "fine-tuning on prompt/completion pairs", "prompt/completion pairs"),
        DataKind(ALPACA, "instruction fine-tuning (Alpaca format)", "instructions (Alpaca format)"),
        DataKind(SHAREGPT, "chat fine-tuning (ShareGPT conversations)", "conversations (ShareGPT format)"),
        DataKind(
            PREFERENCE,
            "preference tuning (DPO: prompt, chosen, rejected)",
            "preference pairs (prompt, chosen, rejected)",
        ),
        DataKind(KTO, "KTO (answers marked good or bad)", "KTO examples (completions marked good or bad)"),
        DataKind(TEXT_CLASSIFICATION, "text classification", "text classification data (text and label)"),
        DataKind(TEXT_PAIR_CLASSIFICATION, "text-pair classification", "text-pair classification data"),
        DataKind(REGRESSION, "regression (predict a number from text)", "regression data (text and a number)"),
        DataKind(IMAGE_CLASSIFICATION, "image classification", "image classification data"),
        DataKind(AUDIO_CLASSIFICATION, "audio classification", "audio classification data"),
        DataKind(TEXT, "plain text without labels", "plain text without labels or answers"),
    )
}

# Conversations a causal LM trains on with supervised fine-tuning (all become OpenAI chat records).
CONVERSATIONS = (CHAT_SFT, PROMPT_COMPLETION, ALPACA, SHAREGPT)
# Everything a causal LM trains on: conversations, preference pairs and KTO's marked answers.
LANGUAGE_MODEL_DATA = (*CONVERSATIONS, PREFERENCE, KTO)
# Texts (or text pairs) with a class label.
LABELLED_TEXT = (TEXT_CLASSIFICATION, TEXT_PAIR_CLASSIFICATION)
# Files of images or sounds with a class label.
MEDIA = (IMAGE_CLASSIFICATION, AUDIO_CLASSIFICATION)

# Not a kind: what a user asks for with "chat", "sft" or the name of any conversation kind. Conversations come
# in several shapes and asking for one means any of them (CONVERSATIONS), whichever the file has.
ANY_CONVERSATION = "sft"

# The words people use for what their data is (--task, "treat it as ..."), each with the kind it names (or
# ANY_CONVERSATION). Every kind's own name counts; matched after lowercasing, with "_" and " " read as "-".
ALIASES: dict[str, str] = {
    **{kind: kind for kind in KINDS},
    **{word: ANY_CONVERSATION for word in (ANY_CONVERSATION, *CONVERSATIONS, "chat", "instruction")},
    "classification": TEXT_CLASSIFICATION,
    "classify": TEXT_CLASSIFICATION,
    "pair": TEXT_PAIR_CLASSIFICATION,
    "text-pair": TEXT_PAIR_CLASSIFICATION,
    "score": REGRESSION,
    "dpo": PREFERENCE,
    "orpo": PREFERENCE,
    "image": IMAGE_CLASSIFICATION,
    "audio": AUDIO_CLASSIFICATION,
}


def title(kind: str) -> str:
    """How the chat names what data of `kind` is for (the kind itself when unknown)."""
    found = KINDS.get(kind)
    return found.title if found else kind


def description(kind: str) -> str:
    """What a file of `kind` holds, for sentences like "'x.csv' holds ..."."""
    found = KINDS.get(kind)
    return found.description if found else f"{kind} data"
