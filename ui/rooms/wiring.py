"""What the rooms share in wiring: refresh what a room shows when its tab is picked (runs finish and files arrive
while another tab is open) and on the room's own events, such as a refresh button."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from ui.rooms import Room


def on_show(
    room: Room, fn: Callable[..., Any], inputs: Sequence[Any], outputs: Sequence[Any], also: Sequence[Any] = ()
) -> Any:
    """Run `fn` whenever the room's tab is selected and on the events in `also`; returns the event, for a `.then`."""
    triggers = [*([room.tab.select] if room.tab is not None else []), *also]
    return gr.on(triggers, fn, list(inputs), list(outputs), api_visibility="private", show_progress="hidden")
