"""The Playground room: a finished run or a live deployment beside its base model and another run (ui/playground.py
builds it; this module is its door in the room contract of ui/rooms/__init__.py)."""

from __future__ import annotations

from ui.playground import PlaygroundView, add_playground
from ui.rooms import Room


def add_playground_room(room: Room) -> PlaygroundView:
    """The playground in its own tab; opening the tab lists the runs and deployments there are now."""
    return add_playground(room.assistant.workspace, room.assistant.registry, room.tab)
