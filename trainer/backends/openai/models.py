"""Which OpenAI models can still be fine-tuned, and when a named model shuts down.

Sources (read 2026-11-30):
- OpenAI's deprecations page (developers.openai.com/api/docs/deprecations), "Update to OpenAI's self-serve
  fine-tuning": since 2026-05-07 organisations that never fine-tuned cannot create jobs, since 2026-07-02 neither
  can those without inference on a fine-tuned model in the last 60 days, and from 2027-01-06 no one can.
- The same page, "2026-10-14: GPT-4 family": gpt-4o (2024-08-06, 2024-11-20), gpt-4o-mini-2024-07-18,
  gpt-4.1-2025-04-14 and gpt-4.1-mini-2025-04-14 shut down on 2027-01-14, and models fine-tuned from them on the
  same day; the replacement, gpt-6-luna, cannot be fine-tuned.
- The same page, "2026-04-22" notice: gpt-3.5-turbo, gpt-4, gpt-4-turbo, gpt-4o-2024-05-13, gpt-4.1-nano, o1,
  o3-mini and o4-mini shut down on 2026-10-23.
So no OpenAI model stays fine-tunable after 2027-01-06; until then the GPT-4.1 and GPT-4o snapshots above are
the ones left. The models endpoint (GET /v1/models/{id}, `shutdown_date`, YYYY-MM-DD or null) is the live
word: read right after the user's yes (a plan sends nothing to OpenAI) and kept in the workspace, so later
plans show the date it gave.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.core.workspace import Workspace

# The day OpenAI's self-serve fine-tuning closes to everyone, and the day it closed to new organisations.
SELF_SERVE_ENDS = dt.date(2027, 1, 6)
CLOSED_TO_NEW = dt.date(2026, 5, 7)
DEPRECATIONS_PAGE = "OpenAI's deprecations page"
ENDPOINT_SOURCE = "OpenAI's models endpoint"
CACHE_FILE = "openai_models.json"

# Shutdown dates by model family (longest matching prefix wins; fine-tuned "ft:" names take their base's date).
SHUTDOWNS: dict[str, str] = {
    "gpt-4.1": "2027-01-14",
    "gpt-4.1-mini": "2027-01-14",
    "gpt-4o": "2027-01-14",
    "gpt-4o-2024-05-13": "2026-10-23",
    "gpt-4o-mini": "2027-01-14",
    "gpt-4.1-nano": "2026-10-23",
    "gpt-3.5-turbo": "2026-10-23",
    "gpt-4": "2026-10-23",
    "gpt-4-turbo": "2026-10-23",
    "o1": "2026-10-23",
    "o3-mini": "2026-10-23",
    "o4-mini": "2026-10-23",
}


def base_name(model: str) -> str:
    """The base model of a name: "ft:gpt-4.1-mini-2025-04-14:org::id" -> "gpt-4.1-mini-2025-04-14"."""
    return model.strip().removeprefix("ft:").split(":")[0].lower()


def table_date(model: str) -> str | None:
    name = base_name(model)
    matches = [prefix for prefix in SHUTDOWNS if name == prefix or name.startswith(prefix + "-")]
    return SHUTDOWNS[max(matches, key=len)] if matches else None


def _cache(ws: Workspace) -> dict[str, Any]:
    path = ws.root / CACHE_FILE
    try:
        found = read_json(path) if path.is_file() else {}
    except ValueError:
        return {}
    return dict(found) if isinstance(found, dict) else {}


def remember(ws: Workspace, model: str, shutdown_date: str | None) -> None:
    """Keep what the models endpoint said of `model` (its shutdown_date, None for none announced)."""
    cache = _cache(ws)
    cache[base_name(model)] = {"shutdown_date": shutdown_date, "checked_at": dt.date.today().isoformat()}
    atomic_write_json(ws.root / CACHE_FILE, cache)


def shutdown_of(ws: Workspace, model: str) -> tuple[str | None, str]:
    """(shutdown date, where it comes from): the models endpoint's field as last read, else the table."""
    seen = _cache(ws).get(base_name(model)) or {}
    if seen.get("shutdown_date"):
        return str(seen["shutdown_date"]), ENDPOINT_SOURCE
    return table_date(model), DEPRECATIONS_PAGE


def lookup(client: Any, ws: Workspace, model: str) -> str | None:
    """Ask the models endpoint for `model`'s shutdown_date and keep it; None when it gives none or cannot say
    (an unknown name is the create call's to refuse, with its own sentence)."""
    import openai

    try:
        found = client.models.retrieve(base_name(model))
    except openai.OpenAIError:
        return None
    date = getattr(found, "shutdown_date", None)
    remember(ws, model, date)
    return str(date) if date else None


def model_notes(ws: Workspace, model: str, today: dt.date | None = None) -> list[str]:
    """The plan's warnings: the model's shutdown date when known, and the end of self-serve fine-tuning."""
    today = today or dt.date.today()
    notes = []
    date, source = shutdown_of(ws, model)
    if date:
        past = dt.date.fromisoformat(date) <= today
        notes.append(
            f"{model} was shut down on {date} ({source}), so OpenAI will refuse this job; pick another model."
            if past
            else f"{model} is deprecated: OpenAI shuts it down on {date} ({source}), and models fine-tuned from "
            "it stop answering that day too."
        )
    if today >= SELF_SERVE_ENDS:
        notes.append(
            f"OpenAI stopped self-serve fine-tuning for everyone on {SELF_SERVE_ENDS}, so no OpenAI model can be "
            "fine-tuned any more; plan the same fine-tuning on another provider or on this machine."
        )
    else:
        notes.append(
            f"OpenAI closes self-serve fine-tuning to everyone on {SELF_SERVE_ENDS} (closed since {CLOSED_TO_NEW} to "
            "organisations that never fine-tuned), and no OpenAI model stays fine-tunable after that date; "
            "another provider or this machine keeps working."
        )
    return notes
