"""Guided mode's understanding of plain words: which intent a message carries and which settings it names.

Rules, not a model: each intent is a list of patterns tried in priority order, so "stop the
training" is a stop and not a train, and a number next to a setting's name changes that setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Tried top to bottom; the first intent with a matching pattern wins.
INTENT_PATTERNS: list[tuple[str, list[str]]] = [
    ("help", [r"^\s*(help|\?|what can you do|how does this work|commands)\b"]),
    ("stop", [r"\b(stop|cancel|abort|kill|halt)\b"]),
    ("compare", [r"\bcompare\b", r"\bdiff(erence)?s?\b.*\bruns?\b", r"\bruns?\b.*\bvs\.?\b"]),
    ("deploy", [r"\b(deploy|serve|publish|endpoint|host)\b"]),
    ("list_runs", [r"\b(list|show|all|my|previous|earlier)\b.*\bruns\b", r"^\s*runs\s*$", r"\brun history\b"]),
    ("status", [r"\b(status|progress|how('s| is)? (it|the run|training) going|is it done|eta|still running)\b"]),
    (
        "evaluate",
        [r"\b(evaluat\w*|results?|metrics?|accuracy|f1|confusion|how (did|well) (it|the model) (do|did|perform))\b"],
    ),
    ("go", [r"^\s*(go|go ahead|yes|yep|yeah|y|ok|okay|start|start it|do it|launch|proceed|run it|sounds good)\b"]),
    ("train", [r"\b(fine[- ]?tun\w*|train\w*|classif\w*|build a model|make a model)\b"]),
    (
        "inspect",
        [r"\b(inspect|look at|check|analy[sz]e|describe|profile|summari[sz]e|what'?s in|explore)\b"],
    ),
]

NUMBER = r"(\d+(?:\.\d+)?(?:e-?\d+)?)"
SEP = r"\s*(?:to|=|:|of|at|is)?\s*"
SETTING_PATTERNS: list[tuple[str, list[str]]] = [
    ("epochs", [rf"{NUMBER}\s*epochs?\b", rf"\bepochs?{SEP}{NUMBER}"]),
    ("learning_rate", [rf"\b(?:learning[ _-]?rate|lr){SEP}{NUMBER}"]),
    ("batch_size", [rf"\bbatch[ _-]?size{SEP}{NUMBER}", rf"\bbatch(?:es)? of {NUMBER}", rf"{NUMBER}\s*per batch"]),
    ("max_length", [rf"\bmax(?:imum)?[ _-]?(?:len(?:gth)?|tokens){SEP}{NUMBER}", rf"\btruncate (?:at|to) {NUMBER}"]),
    ("freeze_layers", [rf"\bfreeze\s+(?:the\s+)?(?:lower\s+|bottom\s+|first\s+)?{NUMBER}", rf"{NUMBER}\s*frozen"]),
    # After "use/with/set ... model" any name counts; a bare "model X" needs a name that looks like one.
    ("model", [rf"\b(?:use|with|set|switch to)\s+(?:the\s+)?(?:base[ _-]?)?model{SEP}([\w./~-]+)"]),
    ("model_loose", [rf"\b(?:base[ _-]?model|model){SEP}([\w./~-]+)", r"\buse\s+([\w.-]+/[\w./-]+)"]),
]
COLUMN_PATTERN = re.compile(
    r"\b(text|label)\s+column\s*(?:is|=|:|to|should be)?\s*[`'\"]?([^`'\"\n]+?)[`'\"]?\s*[.!]?\s*$", re.IGNORECASE
)
RUN_ID_PATTERN = re.compile(r"\b(?:runs?\s*#?\s*)?(\d+)\b")


@dataclass
class Intent:
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)


def parse_settings(message: str) -> dict[str, Any]:
    """The run settings a message names, e.g. "use 5 epochs and lr 3e-5" -> {epochs: 5, learning_rate: 3e-5}."""
    text = message.lower()
    settings: dict[str, Any] = {}
    for name, patterns in SETTING_PATTERNS:
        for pattern in patterns:
            match = re.search(pattern, message if name.startswith("model") else text, re.IGNORECASE)
            if match:
                value = match.group(1)
                # A loosely placed model name needs a slash, dash, dot, underscore or digit
                # (gpt2, org/name, ./path); that keeps "train a model on this" from naming "on".
                if name == "model_loose" and not re.search(r"[/\-_.\d]", value):
                    continue
                if name.startswith("model"):
                    settings.setdefault("model", value.rstrip("."))
                else:
                    settings[name] = float(value)
                break
    for match in [COLUMN_PATTERN.search(line) for line in message.splitlines()]:
        if match:
            settings[f"{match.group(1).lower()}_column"] = match.group(2).strip()
    return settings


def parse_run_ids(message: str) -> list[int]:
    return [int(number) for number in RUN_ID_PATTERN.findall(message)]


def classify(message: str) -> Intent:
    """The intent of a message; "settings" when it only changes settings; "unknown" when nothing matched."""
    text = message.strip().lower()
    settings = parse_settings(message)
    for name, patterns in INTENT_PATTERNS:
        if any(re.search(pattern, text) for pattern in patterns):
            if name == "go" and settings:
                # "ok, use 5 epochs" changes the plan rather than starting it.
                return Intent("settings", settings)
            return Intent(name, settings, parse_run_ids(message))
    if settings:
        return Intent("settings", settings)
    return Intent("unknown")
