"""Files an MCP client names by their path on the user's machine, copied into the workspace like `tunechat chat
--file` does, but only from the folders the user allowed when starting the server (`tunechat mcp --allow DIR`).

A client is a model acting on instructions that may come from anywhere (a web page, a data file), so it must not
read the user's other files through us: every path is resolved first (symlinks followed, `..` collapsed) and
must then lie inside an allowed folder, itself resolved when the server starts. With no folder allowed, no file
can be added.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trainer.core.errors import UserError


@dataclass(frozen=True)
class AllowedFolders:
    """The resolved folders files may be added from."""

    roots: tuple[Path, ...] = ()

    @classmethod
    def from_args(cls, folders: Sequence[str | Path]) -> AllowedFolders:
        """The folders named by `--allow`, resolved now; one that is not a folder stops the server from starting."""
        roots: list[Path] = []
        for folder in folders:
            path = Path(folder).expanduser()
            try:
                resolved = path.resolve(strict=True)
            except (OSError, RuntimeError):
                raise UserError(f"--allow {folder}: there is no such folder; name a folder that exists.") from None
            if not resolved.is_dir():
                raise UserError(f"--allow {folder} is a file, not a folder; allow the folder that holds it.")
            if resolved not in roots:
                roots.append(resolved)
        return cls(tuple(roots))

    def describe(self) -> str:
        return ", ".join(str(root) for root in self.roots)

    def check(self, path: str) -> Path:
        """The real path of the file `path` names, when it lies inside an allowed folder; else one sentence.

        A relative path is looked up in the allowed folders, in order."""
        if not self.roots:
            raise UserError(
                "No folder is allowed for adding files, so none can be added; restart the server with "
                "`tunechat mcp --allow DIR` naming the folder that holds your data."
            )
        if not path or not path.strip() or "\x00" in path:
            raise UserError(f"Name the file by its full path inside {self._where()}.")
        given = Path(path.strip()).expanduser()
        candidates = [given] if given.is_absolute() else [root / given for root in self.roots]
        for candidate in candidates:
            resolved = _resolved(candidate)
            if resolved is None:
                continue
            if not any(resolved.is_relative_to(root) for root in self.roots):
                # Said the same way whether the file exists or not, so a client cannot probe the disk through us.
                raise UserError(f"'{path}' is outside the folders files may be added from ({self._where()}).")
            if not resolved.is_file():
                raise UserError(f"'{path}' is not a file; add one data file at a time (zip a folder of images first).")
            return resolved
        if given.is_absolute() and not any(_inside_lexically(given, root) for root in self.roots):
            raise UserError(f"'{path}' is outside the folders files may be added from ({self._where()}).")
        raise UserError(f"There is no file '{path}' in {self._where()}; check the path and try again.")

    def _where(self) -> str:
        many = len(self.roots) > 1
        return f"the allowed folder{'s' if many else ''} {self.describe()}"


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None


def _inside_lexically(path: Path, root: Path) -> bool:
    """Whether `path`, with `..` collapsed but links not followed, names something under `root`."""
    return Path(os.path.normpath(path)).is_relative_to(root)
