"""What every room needs from the page it sits in: to refresh what it shows when the page opens and when its tab is
picked (runs finish and files arrive while another tab is open)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
from gradio.context import Context


def on_show(fn: Callable[..., Any], inputs: Sequence[Any], outputs: Sequence[Any], also: Sequence[Any] = ()) -> Any:
    """Run `fn` when the page loads, whenever the enclosing tab is selected, and on the events in `also`; returns the
    event, for a `.then`. Call it from the room function while the tab is the open block (outside any row or column
    of the room: at its end, after its components are made)."""
    triggers: list[Any] = list(also)
    tab = Context.block
    if isinstance(tab, gr.Tab):
        triggers.append(tab.select)
    root = Context.root_block
    if root is not None:
        triggers.append(root.load)
    return gr.on(
        triggers,
        fn,
        list(inputs),
        list(outputs),
        api_visibility="private",
        show_progress="hidden",
    )
