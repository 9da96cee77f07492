"""The web UI's rooms: one tab each beside the chat (Runs, Compare, Data, Playground, Settings).

The contract every room keeps, so ui/web.py stays a list of tabs:

- a room is a module here with one function `add_<name>_room(room: Room) -> Any`, called inside its
  `with gr.Tab(...) as tab:` block of ui/web.py; it adds its components and wires its events there, and returns
  whatever its tests want to hold (a view object of plain functions), or None;
- what a room shows is built by plain functions without Gradio (a `<name>_view.py` module beside it), so it is
  unit-tested without a server;
- it reads runs, files and settings through tools/ and the registry the assistant holds, never through the chat;
- anything that starts, spends or changes something is a pending plan (tools/pending.py) the user confirms with a
  second click, checked in code by the plan's id (ui/rooms/plans.py: RoomPlans);
- images reach the browser only through `room.image_ref` (the app's staged image folder, ui/web_access.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.assistant import Assistant
from ui.web_view import ImageRef


@dataclass(frozen=True)
class Room:
    """What ui/web.py hands every room."""

    assistant: Assistant
    # This browser tab's chat session id (a gr.State; None until the chat's first message), as an event input.
    session: Any
    # Turns a result's image path into one the app serves, or None (only PNGs from known result keys pass).
    image_ref: ImageRef
    # The room's own tab: `room.tab.select(...)` refreshes the room when the user opens it.
    tab: Any
