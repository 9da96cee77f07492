"""What the web chat lets in and out: the one folder of images it serves, the upload cap, the ids of the chats
a browser holds, and the warning when it listens beyond this machine. No Gradio here: ui/web.py wires these in.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from agent.clips import is_wav, shown_clip
from agent.images import PNG_SIGNATURE, shown_image
from trainer.core.errors import UserError
from trainer.core.workspace import DEFAULT_MAX_UPLOAD_MB, Workspace
from trainer.serve.access import is_loopback

# Every hour, the app deletes its temporary files (uploads, served copies) older than a day; all of them on exit.
DELETE_CACHE = (3600, 86400)
# How many of its chats a browser remembers for the list of earlier chats.
BROWSER_CHATS = 50


class ImageStage:
    """The plots the chat shows and the recordings it plays, copied into a private folder (0700, files 0600): the
    one folder the app serves. Only PNG files inside the workspace's plot folders (agent/images.py) and WAV files
    inside its clip folder (agent/clips.py) are copied, and the bytes copied are the bytes checked."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self._folder = tempfile.TemporaryDirectory(prefix="tunechat-ui-images-")  # mkdtemp: mode 0700
        self.folder = Path(self._folder.name)

    def __call__(self, path: str) -> str | None:
        source, suffix = shown_image(path, self.workspace), ".png"
        if source is None:  # a recording the inspection wrote, played by the chat's audio player
            source, suffix = shown_clip(path, self.workspace), ".wav"
        try:
            content = source.read_bytes() if source is not None else b""
        except OSError:
            return None
        if source is None or not (content.startswith(PNG_SIGNATURE) if suffix == ".png" else is_wav(content[:12])):
            return None
        # The file's own name stays in the served name (the browser shows it); the digest keeps versions apart.
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", source.stem)[:60]
        target = self.folder / f"{name}-{hashlib.sha256(content).hexdigest()[:16]}{suffix}"
        if not target.exists():
            part = self.folder / f".{target.name}.{os.getpid()}.{threading.get_ident()}.part"
            descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
            os.replace(part, target)
        return str(target)


def held_chats(known: Any) -> list[str]:
    """The chat ids a browser says it holds (it may send anything: only strings count)."""
    return [item for item in known if isinstance(item, str)][:BROWSER_CHATS] if isinstance(known, list) else []


def remember_chat(session_id: str | None, known: Any) -> list[str]:
    """The browser's list of its chats with this one first."""
    held = [item for item in held_chats(known) if item != session_id]
    return ([session_id] if session_id else []) + held[: BROWSER_CHATS - 1]


def upload_limit_bytes() -> int:
    """The upload cap, TUNECHAT_MAX_UPLOAD_MB (megabytes of 10^6 bytes, as the workspace counts them)."""
    raw = os.environ.get("TUNECHAT_MAX_UPLOAD_MB")
    try:
        megabytes = float(raw) if raw else float(DEFAULT_MAX_UPLOAD_MB)
    except ValueError:
        megabytes = math.nan
    if not math.isfinite(megabytes) or megabytes <= 0:
        raise UserError(f"TUNECHAT_MAX_UPLOAD_MB must be a positive number of megabytes, not {raw!r}; fix or unset it.")
    return int(megabytes * 1e6)


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str | None:
    """What to tell the user when the chat listens beyond this machine (never the password)."""
    if is_loopback(host):
        return None
    if auth is not None:
        return (
            f"tunechat ui listens on {host}, beyond this machine: anyone who can reach it gets the login page. "
            "Without HTTPS in front the login crosses the network readable; use it on a network you trust."
        )
    return (
        f"WARNING: tunechat ui listens on {host} with no login: anyone who can reach this port can use the "
        "assistant, read your data through it, train and deploy models. Require a login with --auth USER:PASSWORD "
        "(or TUNECHAT_UI_AUTH), or bind 127.0.0.1."
    )
