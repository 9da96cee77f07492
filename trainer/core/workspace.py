"""The workspace folder: uploads, prepared datasets, one folder per run, and the database.

Default `~/.tunechat`; `TUNECHAT_HOME` overrides. Every path a tool touches is resolved through
here, so nothing the chat or the data names can point outside it.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError, disk_space_for

# Uploads larger than this are refused before they are copied (override with TUNECHAT_MAX_UPLOAD_MB).
DEFAULT_MAX_UPLOAD_MB = 512


def workspace_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where the workspace lives: TUNECHAT_HOME, default ~/.tunechat (not created here)."""
    env = os.environ if environ is None else environ
    return Path(env.get("TUNECHAT_HOME") or Path.home() / ".tunechat").expanduser()


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls) -> Workspace:
        workspace = cls(workspace_root().resolve())
        workspace.create()
        return workspace

    def create(self) -> None:
        for folder in (self.uploads, self.datasets, self.runs, self.models):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def models(self) -> Path:
        """Local base models the chat may name by path (the command line may name any path)."""
        return self.root / "models"

    @property
    def db_path(self) -> Path:
        return self.root / "tunechat.db"

    def run_dir(self, run_id: int) -> Path:
        return self.runs / f"run-{run_id}"

    def run_dir_of(self, run: Mapping[str, Any]) -> Path:
        """A registry row's run folder: the one it records, else the default place for its id."""
        return Path(run["run_dir"]) if run.get("run_dir") else self.run_dir(int(run["id"]))

    def uploads_for(self, session_id: str | None = None) -> Path:
        """Where a chat's uploads go: uploads/<session>/, so chats (browser tabs) never see each other's
        files; without a session (the command line) uploads/ itself."""
        if not session_id:
            return self.uploads
        return self.uploads / session_folder(session_id)

    def resolve(self, name: str, session_id: str | None = None) -> Path:
        """Resolve a file name the chat gave to a path inside the workspace.

        A bare name is looked up in the session's uploads (uploads/ without a session); a relative path
        is taken from the workspace root. Anything that escapes the workspace (``..``, absolute paths,
        links) is refused.
        """
        if not name or not name.strip():
            raise UserError("No file was named; upload a CSV, TSV or JSONL file first.")
        candidate = Path(name)
        if candidate.is_absolute():
            path = candidate
        elif len(candidate.parts) == 1:
            path = self.uploads_for(session_id) / candidate
        else:
            path = self.root / candidate
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise UserError(
                f"'{name}' is outside the tunechat workspace; upload the file into the chat "
                "(or pass it to the command line) so it is copied into the workspace first."
            )
        if not resolved.is_file():
            raise UserError(f"There is no file '{name}' in the workspace; upload it first.")
        return resolved

    def import_file(self, source: Path, name: str | None = None, session_id: str | None = None) -> Path:
        """Copy a user's file into the session's uploads (uploads/ without one) under a safe, unique name
        and return the new path."""
        source = Path(source)
        if not source.is_file():
            raise UserError(f"There is no file at '{source}'; check the path and try again.")
        limit_mb = float(os.environ.get("TUNECHAT_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB))
        size_mb = source.stat().st_size / 1e6
        if size_mb > limit_mb:
            raise UserError(
                f"'{source.name}' is {size_mb:.0f} MB, over the {limit_mb:.0f} MB upload limit; "
                "use a smaller file or raise TUNECHAT_MAX_UPLOAD_MB."
            )
        clean = safe_file_name(name or source.name)
        folder = self.uploads_for(session_id)
        folder.mkdir(parents=True, exist_ok=True)
        same = folder / clean
        if same.is_file() and (source.resolve() == same.resolve() or filecmp.cmp(source, same, shallow=False)):
            return same  # the same file again: no second copy
        target = folder / unique_name(folder, clean)
        tmp = target.with_name(f".{target.name}.part")
        try:
            with disk_space_for(f"the upload '{clean}'", "upload it again"):
                shutil.copyfile(source, tmp)
            tmp.replace(target)
        except BaseException as error:
            # A full disk, a source that fails mid-read, an interrupt: no half copy stays behind.
            tmp.unlink(missing_ok=True)
            if isinstance(error, OSError):
                reason = error.strerror or type(error).__name__
                raise UserError(
                    f"'{source.name}' could not be copied into the workspace ({reason}); free some disk space or "
                    "check the file, then upload it again."
                ) from None
            raise
        return target


def session_folder(session_id: str) -> str:
    """A session id as a folder name: itself when harmless (the web UI's ids are hex), else a digest."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", session_id):
        return session_id
    return "s-" + hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:16]


def safe_file_name(name: str) -> str:
    """Keep only the last path component and harmless characters of an uploaded file's name."""
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")
    return cleaned or "upload"


def unique_name(folder: Path, name: str) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`, ... so an upload never overwrites an earlier one."""
    if not (folder / name).exists():
        return name
    stem, suffix = Path(name).stem, Path(name).suffix
    counter = 2
    while (folder / f"{stem}-{counter}{suffix}").exists():
        counter += 1
    return f"{stem}-{counter}{suffix}"


def resolve_data_path(data: str, workspace_root: Path) -> Path:
    """A dataset named in a config: an absolute path as given, a relative name inside the workspace."""
    path = Path(data).expanduser()
    if path.is_absolute():
        if not path.is_file():
            raise UserError(f"The data file '{data}' does not exist; upload it again and start a new run.")
        return path
    return Workspace(workspace_root).resolve(data)


def run_id_from_dir(run_dir: Path) -> int | None:
    """The id in a `run-<id>` folder name, or None for a folder named otherwise."""
    match = re.fullmatch(r"run-(\d+)", Path(run_dir).name)
    return int(match.group(1)) if match else None
