"""Checks on tool arguments that the chat (or an LLM) controls."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.session_files import resolve_file
from trainer.core.errors import UserError
from trainer.models.catalog import is_known
from trainer.plan.config import BUNDLED_MODEL, FIELD_NAMES, canonical_key

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def check_model_reference(ctx: ToolContext, model: str | None) -> str | None:
    """Allow the bundled model, a Hugging Face hub id, or a local folder (or GGUF file) inside the workspace.

    A path elsewhere on disk is refused: a chat message (or text in the data the LLM read) must
    not make a tool read arbitrary folders. Local models go in the workspace's models/ folder.
    """
    if model is None or model == BUNDLED_MODEL or is_known(model):
        return model  # an offline catalog model, fetched into the workspace on first use
    if ctx.allow_any_model_path and _is_model_path(Path(model).expanduser()):
        return str(Path(model).expanduser().resolve())
    in_models = ctx.workspace.models / model
    if model.startswith((".", "~", "/")) or ".." in model:
        path = Path(model).expanduser()
        resolved = (path if path.is_absolute() else ctx.workspace.models / path).resolve()
    elif _is_model_path(in_models):
        resolved = in_models.resolve()
    elif Path(model).exists():
        # Transformers would load a folder relative to the current directory before the hub.
        resolved = Path(model).resolve()
    elif HUB_ID.match(model):
        return model
    else:
        raise UserError(
            f"'{model}' is not a Hugging Face model id (like 'org/name') or a model folder in the workspace."
        )
    if not resolved.is_relative_to(ctx.workspace.root):
        raise UserError(
            f"The model path '{model}' is outside the tunechat workspace; copy the model folder into "
            f"{ctx.workspace.models} and name it from there, or use a Hugging Face model id."
        )
    return str(resolved)


def _is_model_path(path: Path) -> bool:
    """A model folder, or a GGUF file (converted into the model cache on first use)."""
    return path.is_dir() or (path.suffix.lower() == ".gguf" and path.is_file())


# What a chat may change when it copies or relaunches an earlier run. The task and the backend need a new plan
# from the data (where every value is checked), and remote code is the user's own choice, never the chat's.
FIXED_ON_REPLAN = frozenset({"task", "backend", "trust_remote_code"})
CHANGEABLE = frozenset(FIELD_NAMES) - FIXED_ON_REPLAN


def checked_changes(ctx: ToolContext, changes: dict[str, Any] | None) -> dict[str, Any]:
    """The settings a chat asked to change on an earlier run's plan, each checked as everywhere else: only the
    keys in CHANGEABLE, a data file this chat may use (resolve_file), a model the workspace allows."""
    checked: dict[str, Any] = {}
    for key, value in (changes or {}).items():
        if value is None:
            continue
        name = canonical_key(str(key))
        if name == "trust_remote_code":
            raise UserError(
                "The chat cannot turn on trust_remote_code; if you trust that model's code, set it in a config file "
                "and run `tunechat train --config FILE` yourself."
            )
        if name not in CHANGEABLE:
            raise UserError(
                f"The {name} of an earlier run cannot be changed here; say 'train' on the data for a new plan."
            )
        if name == "data":
            value = str(resolve_file(ctx, str(value)))
        elif name == "model":
            value = check_model_reference(ctx, str(value))
        checked[name] = value
    return checked
