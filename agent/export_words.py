"""What an export request says in plain words: "export run 3", "export run 3 for ollama", "as onnx", "merged
weights", "for the hub" / "push it to hugging face as me/my-model", "gguf q4_k_m".

The words map to the format names of trainer/export/registry.py; a request that names no format leaves the
choice to the run's task (its first export format).
"""

from __future__ import annotations

import re
from typing import Any

# Any of these makes a message an export request (agent/intents.py tries them before "deploy" and "train").
EXPORT_PATTERNS = [
    # Not a shell line the user pasted ("export OPENAI_API_KEY=...").
    r"\bexport\w*\b(?!\s+\w+=)",
    r"\b(gguf|onnx|ollama|llama[ .-]?cpp)\b",
    r"\bmerged? (the )?(weights|model|lora|adapter)\b",
    r"\b(for|to|on|onto|push\w*|upload\w*)\s+(the\s+)?(hugging ?face|hf hub|hub)\b",
]
# Words naming a format, first match wins: a message about Ollama wants GGUF even when it also says "merged".
FORMAT_WORDS: list[tuple[str, str]] = [
    ("gguf", r"\b(gguf|ollama|llama[ .-]?cpp|lm ?studio)\b"),
    ("onnx", r"\b(onnx(runtime)?)\b"),
    ("hub", r"\b(hugging ?face|hf hub|hub|model card)\b"),
    ("merged", r"\b(merged?|safetensors|vllm|tgi|transformers)\b"),
]
QUANT_PATTERN = re.compile(r"\b(q\d_k_[sml]|q\d_\d|q\d_k|f16|bf16)\b", re.IGNORECASE)
# A Hub repository: owner/name after "as", "to" or "repo".
REPO_PATTERN = re.compile(r"\b(?:as|to|repo(?:sitory)?|into)\s+[`'\"]?([\w][\w.-]*/[\w][\w.-]*)", re.IGNORECASE)


def parse_export(message: str) -> dict[str, Any]:
    """The format, quantisations and Hub repository an export request names (each only when named)."""
    text = message.lower()
    found: dict[str, Any] = {}
    chosen = next((name for name, pattern in FORMAT_WORDS if re.search(pattern, text)), None)
    if chosen:
        found["format"] = chosen
    quantisations = [match.lower() for match in QUANT_PATTERN.findall(message) if match.lower() != "f16"]
    if quantisations:
        found["quantisations"] = list(dict.fromkeys(quantisations))
    repo = REPO_PATTERN.search(message)
    if repo and chosen == "hub":
        found["repo_id"] = repo.group(1).rstrip(".")
    return found
