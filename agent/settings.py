"""The settings file, `<workspace>/settings.json` (TUNECHAT_HOME, default ~/.tunechat): read, checked, written.

For example `{"llm": {"backend": "openai-compatible", "base_url": "http://127.0.0.1:11434/v1", "model": "qwen2.5:7b"}}`.
It never holds an API key: a file with one is refused when read, and a write that would store one is refused
before anything is written. agent/backends.py decides the chat backend from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.workspace import workspace_root

# The chat backends llm.backend (and --llm, TUNECHAT_LLM) may name: the OpenAI API, any server speaking its
# chat-completions API, a local Transformers model, or no LLM at all (guided mode).
OPENAI, COMPATIBLE, LOCAL, GUIDED = "openai", "openai-compatible", "local", "guided"
KINDS = (OPENAI, COMPATIBLE, LOCAL, GUIDED)
SETTINGS_NAME = "settings.json"
# Keys the "llm" section of settings.json may hold (one line each in README's table).
LLM_SETTINGS = ("backend", "model", "base_url", "path", "api_key_env", "max_new_tokens")
TOP_LEVEL_SETTINGS = ("llm",)


def settings_path(environ: Mapping[str, str] | None = None) -> Path:
    """`<workspace>/settings.json`, without creating the workspace."""
    return workspace_root(environ) / SETTINGS_NAME


def display_path(path: Path) -> str:
    """The settings path as the user thinks of it (~ for the home folder)."""
    try:
        return "~/" + str(path.resolve().relative_to(Path.home().resolve()))
    except (ValueError, RuntimeError):
        return str(path)


def read_settings(path: Path) -> dict[str, Any]:
    """The settings file checked: JSON object, known keys only, no API key anywhere. {} when missing."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}); fix or delete it.") from None
    if not isinstance(data, dict):
        raise UserError(f'{path} must hold a JSON object like {{"llm": {{...}}}}; fix or delete it.')
    check_settings(data, path)
    return data


def check_settings(data: dict[str, Any], path: Path | str = SETTINGS_NAME) -> None:
    """Refuse a stored key and unknown keys, each with one sentence naming the key."""
    for key in data:
        if _looks_like_key_name(key):
            raise UserError(_key_refusal(path, key))
        if key not in TOP_LEVEL_SETTINGS:
            raise UserError(f"{path} has an unknown setting {key!r}; known: {', '.join(TOP_LEVEL_SETTINGS)}.")
    llm = data.get("llm", {})
    if not isinstance(llm, dict):
        raise UserError(f'{path}: "llm" must be a JSON object like {{"backend": "openai-compatible"}}.')
    for key, value in llm.items():
        if _looks_like_key_name(key) or (isinstance(value, str) and _looks_like_secret(value)):
            raise UserError(_key_refusal(path, f"llm.{key}"))
        if key not in LLM_SETTINGS:
            raise UserError(f"{path} has an unknown setting 'llm.{key}'; known: {', '.join(LLM_SETTINGS)}.")
    backend = llm.get("backend")
    if backend is not None and backend not in KINDS:
        raise UserError(f"{path}: llm.backend is {backend!r}; use one of {', '.join(KINDS)}.")
    tokens = llm.get("max_new_tokens")
    if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1):
        raise UserError(f"{path}: llm.max_new_tokens must be a positive whole number, not {tokens!r}.")


def _looks_like_key_name(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name != "api_key_env" and ("api_key" in name or name in ("key", "secret", "token", "password"))


def _looks_like_secret(value: str) -> bool:
    # OpenAI-style keys ("sk-...", "sk-proj-...") and Groq's ("gsk_...") pasted into a field.
    return value.startswith(("sk-", "gsk_")) and len(value) > 20


def _key_refusal(path: Path | str, key: str) -> str:
    return (
        f"{path} must not store an API key ({key}); remove it and set OPENAI_API_KEY, or name the variable "
        'that holds the key with {"llm": {"api_key_env": "MY_KEY_VAR"}}.'
    )


def write_setting(dotted: str, value: str, path: Path | None = None) -> dict[str, Any]:
    """Set one value (e.g. "llm.model", "qwen2.5:7b") in the settings file, atomically; returns the file's data.
    An empty value removes the key. The result is checked like a file read back, so no key is ever written."""
    from trainer.core.fileio import atomic_write_json

    target = path or settings_path()
    data = read_settings(target)
    section, _, key = dotted.partition(".")
    if not key:
        raise UserError(f"Name the setting as section.key, e.g. llm.model=qwen2.5:7b (got {dotted!r}).")
    updated = data  # just read from the file: ours to change
    block = updated.setdefault(section, {})
    if not isinstance(block, dict):
        raise UserError(f"{target}: {section!r} is not a section; fix or delete the file.")
    parsed: Any = value
    if key == "max_new_tokens" and value:
        try:
            parsed = int(value)
        except ValueError:
            raise UserError(f"llm.max_new_tokens must be a whole number, not {value!r}.") from None
    if value == "":
        block.pop(key, None)
    else:
        block[key] = parsed
    check_settings(updated, target)
    atomic_write_json(target, updated)
    return updated
