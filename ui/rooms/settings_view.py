"""What the Settings room shows and saves, as plain data (no Gradio): the chat backend in use and where each value
came from, whether an API key is set (never the key), and the llm section of the settings file written with the
checks `tunechat settings --set` makes (agent/settings.py), refused before anything is written when the backend they
describe could not start (agent/backends.py resolve_backend)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.backends import OPENAI_URL, BackendChoice, resolve_backend
from agent.settings import COMPATIBLE, KINDS, OPENAI, check_settings, display_path, read_settings
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json
from ui.render.safe import code, prose

# The fields of the form, as keys of the llm section. Not api_key_env: the variable it names is the secret sent to
# the server, so which one leaves the machine is chosen on the machine (`tunechat settings --set`), not in a browser.
FORM_FIELDS = ("backend", "base_url", "model", "path")
# The form's choice for "no backend named": the file leaves it to what is set (a path, a URL, a key).
IMPLIED = "(from what is set)"
BACKEND_CHOICES = [IMPLIED, *KINDS]
RESTART_NOTE = "tunechat reads the settings file when it starts: restart `tunechat ui` to chat with the saved backend."
ROW_HEADERS = ["setting", "value", "from"]


def key_state(choice: BackendChoice | None, environ: Mapping[str, str] | None = None) -> str:
    """Whether the key this backend would send is set, naming only the variable."""
    env = os.environ if environ is None else environ
    if choice is None or choice.kind not in (OPENAI, COMPATIBLE):
        return "not needed"
    name = choice.api_key_env or "OPENAI_API_KEY"
    if env.get(name):
        return f"set ({name})"
    return f"not set ({name})" if choice.kind == OPENAI or choice.api_key_env else "not set (none needed locally)"


def backend_rows(choice: BackendChoice | None, environ: Mapping[str, str] | None = None) -> list[list[str]]:
    """The backend in use as (setting, value, where it came from) rows, the API key as set or not."""
    if choice is None:
        return [["backend", "a chat model handed to tunechat by its caller", ""]]
    sources = choice.sources
    rows = [["backend", choice.kind, sources.get("kind", "default")]]
    shown = {
        "model": choice.model,
        "base_url": choice.base_url or (OPENAI_URL if choice.kind == OPENAI else None),
        "path": choice.path,
        "api_key_env": choice.api_key_env,
        "max_new_tokens": choice.max_new_tokens if choice.kind != "guided" else None,
    }
    for name, value in shown.items():
        if value not in (None, ""):
            rows.append([name, str(value), sources.get(name, "default")])
    rows.append(["API key", key_state(choice, environ), ""])
    return rows


def saved_form(path: Path) -> dict[str, str]:
    """The form's values from the settings file's llm section ("" where it names none)."""
    llm = read_settings(path).get("llm") or {}
    values = {name: str(llm.get(name) or "") for name in FORM_FIELDS}
    values["backend"] = values["backend"] or IMPLIED
    return values


def save_llm(path: Path, form: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> BackendChoice:
    """Write the form into the settings file's llm section (an empty field removes its key, other sections and keys
    stay) and return the backend a restart will use. The same checks as `tunechat settings --set` (no key stored,
    known values only), the backend must resolve, and the OpenAI key is not pointed at another server from here;
    else UserError before the file is touched."""
    data = read_settings(path)
    llm = data.setdefault("llm", {})
    before = str(llm.get("base_url") or "")
    for name in FORM_FIELDS:
        value = str(form.get(name) or "").strip()
        if name == "backend" and value == IMPLIED:
            value = ""
        if value:
            llm[name] = value
        else:
            llm.pop(name, None)
    if not llm:
        data.pop("llm")
    check_settings(data, display_path(path))
    if llm.get("backend") == OPENAI and llm.get("base_url") and "api.openai.com" not in str(llm["base_url"]):
        raise UserError(
            "The openai backend sends OPENAI_API_KEY to its base URL, so another server is not set from the browser; "
            "choose openai-compatible, or set it on this machine with `tunechat settings --set llm.base_url=...`."
        )
    if llm.get("api_key_env") and str(llm.get("base_url") or "") != before:
        raise UserError(
            f"The key in {llm['api_key_env']} goes to the saved server, so its URL is not changed from the browser; "
            "change it on this machine with `tunechat settings --set llm.base_url=...`."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Resolved from a copy first, so a backend that could not start (a local backend without a folder, say) is
    # refused with the resolver's own sentence and the file keeps what worked.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".settings-check-") as scratch:
        trial = Path(scratch) / path.name
        atomic_write_json(trial, data)
        resolve_backend(environ=environ, settings_file=trial)
    atomic_write_json(path, data)
    return resolve_backend(environ=environ, settings_file=path)


def saved_markdown(path: Path, choice: BackendChoice) -> str:
    """What the user is told after a save."""
    return f"Saved to {code(display_path(path))}. After a restart: {prose(choice.describe())}.\n\n{RESTART_NOTE}"


def refused(error: UserError) -> str:
    """The refusal as markdown (it may quote what was typed, so it is shown as text)."""
    return prose(f"Not saved: {error}")
