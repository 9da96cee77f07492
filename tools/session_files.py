"""Which files a chat may use: its own uploads (uploads/<session>/) and the datasets it prepared.

Several browser tabs are separate chat sessions on one workspace; each sees only its own files, so a
file name said in one chat never reaches another chat's data. The command line (no session) keeps the
whole workspace, as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from trainer.core.errors import UserError


def resolve_file(ctx: ToolContext, name: str) -> Path:
    """The path of a data file the chat named: a bare name in the chat's uploads, or a workspace-relative
    path inside the chat's uploads or prepared datasets. Anything else gets one clear sentence."""
    if not ctx.session_id:
        return ctx.workspace.resolve(name)
    try:
        path = ctx.workspace.resolve(name, session_id=ctx.session_id)
    except UserError:
        legacy = _legacy_upload(ctx, name)
        if legacy is not None:
            return legacy
        if _elsewhere(ctx, name):
            raise UserError(_not_here(name)) from None
        raise
    if not owns_path(ctx, path):
        raise UserError(_not_here(name))
    return path


def owns_path(ctx: ToolContext, path: Path) -> bool:
    """True when `path` (a resolved path in the workspace) is this chat's: its upload folder, a dataset it
    prepared, or a pre-sessions upload it named before. Without a session every workspace file is."""
    if not ctx.session_id:
        return True
    path = Path(path).resolve()
    if path.is_relative_to(ctx.workspace.uploads_for(ctx.session_id).resolve()):
        return True
    root = ctx.workspace.root.resolve()
    if path.is_relative_to(ctx.workspace.datasets.resolve()):
        relative = path.relative_to(root).as_posix()
        return any(relative == own or relative.startswith(own + "/") for own in _own_datasets(ctx))
    if path.parent == ctx.workspace.uploads.resolve():
        return path.name in _legacy_names(ctx)
    return False


def record_dataset(ctx: ToolContext, folder: Path) -> None:
    """Remember that this chat prepared `folder` (datasets/NAME-HASH), so it may use it from now on."""
    if ctx.session_id:
        relative = Path(folder).resolve().relative_to(ctx.workspace.root.resolve()).as_posix()
        ctx.registry.add_session_file(ctx.session_id, relative)


def chat_uploads(ctx: ToolContext) -> list[Path]:
    """This chat's uploaded files, newest first (the whole uploads/ folder for the command line)."""
    folder = ctx.workspace.uploads_for(ctx.session_id)
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")] if folder.is_dir() else []
    files += [ctx.workspace.uploads / name for name in _legacy_names(ctx) if (ctx.workspace.uploads / name).is_file()]
    return sorted(set(files), key=lambda p: p.stat().st_mtime, reverse=True)


def chat_datasets(ctx: ToolContext) -> list[dict[str, Any]]:
    """The prepared datasets this chat made: {"folder", "data_file", "files"} with workspace-relative paths."""
    from trainer.core.fileio import read_json_object

    folders = _own_datasets(ctx) if ctx.session_id else _all_datasets(ctx)
    found = []
    for folder in folders:
        manifest = read_json_object(ctx.workspace.root / folder / "manifest.json")
        files = manifest.get("files") or {}
        if not files:
            continue
        main = "train" if "train" in files else next(iter(files))
        found.append({"folder": folder, "data_file": f"{folder}/{files[main]}", "files": files})
    return found


def _own_datasets(ctx: ToolContext) -> list[str]:
    return [path for path in ctx.registry.session_files(ctx.session_id or "") if path.startswith("datasets/")]


def _all_datasets(ctx: ToolContext) -> list[str]:
    folder = ctx.workspace.datasets
    if not folder.is_dir():
        return []
    return sorted(f"datasets/{p.name}" for p in folder.iterdir() if (p / "manifest.json").is_file())


def _legacy_names(ctx: ToolContext) -> set[str]:
    """Files a chat uploaded before uploads were kept per chat lie in uploads/ itself; the chat's saved
    state names them (ToolContext.uploaded_names), so an old conversation can still use them after the upgrade
    (its own folder wins)."""
    if not ctx.session_id:
        return set()
    own = ctx.workspace.uploads_for(ctx.session_id)
    return {name for name in ctx.uploaded_names if Path(name).name == name and not (own / name).exists()}


def _legacy_upload(ctx: ToolContext, name: str) -> Path | None:
    if name and name in _legacy_names(ctx):
        path = ctx.workspace.uploads / name
        if path.is_file():
            return path.resolve()
    return None


def _elsewhere(ctx: ToolContext, name: str) -> bool:
    """True when a bare `name` is a file of another chat (or of the command line): worth saying so."""
    if not name or Path(name).name != name or name in (".", ".."):
        return False
    uploads = ctx.workspace.uploads
    return (uploads / name).is_file() or any(
        (folder / name).is_file() for folder in uploads.iterdir() if folder.is_dir()
    )


def _not_here(name: str) -> str:
    return (
        f"There is no file '{name}' in this chat; each chat sees only the files dropped into it and the datasets "
        "it prepared, so upload the file here (say 'list files' to see this chat's files)."
    )


# Where a chat's id shows in a tool result: an upload path (uploads/<chat id>/file) and a run's session_id.
# A chat id opens that chat in the web UI.
UPLOAD_FOLDER = re.compile(r"uploads([/\\])([A-Za-z0-9_-]+)([/\\])")
SESSION_FIELD = re.compile(r'"session_id": "([^"]*)"')
ANOTHER_CHAT = "(another chat)"


def hide_other_chats(ctx: ToolContext, text: str) -> str:
    """`text` (a tool result as JSON, or an error) with other chats' ids left out, so a model cannot repeat one:
    the run history is shared, the keys to other chats are not."""

    def folder(match: re.Match[str]) -> str:
        if match.group(2) == ctx.session_id:
            return match.group(0)
        return f"uploads{match.group(1)}{ANOTHER_CHAT}{match.group(3)}"

    def field(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) == ctx.session_id else f'"session_id": "{ANOTHER_CHAT}"'

    return SESSION_FIELD.sub(field, UPLOAD_FOLDER.sub(folder, text))
