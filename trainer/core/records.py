"""Typed results that travel as JSON.

A result a tool hands to the agent or the command line is a dataclass (its fields typed and documented), and
it still reads like the JSON object it is sent as: `plan.config` and `plan["config"]` are the same value, and
`to_dict()` is exactly what the LLM and `--json` see. Fields a kind of result carries only sometimes go in
`extra`, which `to_dict()` merges into the top level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any


class Record(Mapping[str, Any]):
    """Base of the typed results: a read-only mapping over the dataclass fields (and `extra`)."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for spec in fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            if spec.name == "extra":
                data.update(value)
            else:
                data[spec.name] = value.to_dict() if isinstance(value, Record) else value
        return data

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def plain(value: Any) -> Any:
    """`value` with every typed result turned into its JSON object (dicts and lists walked), for JSON and the UI."""
    if isinstance(value, Record):
        return plain(value.to_dict())
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
