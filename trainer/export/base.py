"""What every export format answers, and what it reads.

A format (merged weights, GGUF, ONNX, a hub folder) is one object named in trainer/export/registry.py. Code
outside a format's own module never compares a format's name with a string: it asks the format. A format
writes into a fresh folder that the caller renames into runs/run-N/export/<name>/ once everything is there,
so a half-written export never exists under its final name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from trainer.export.parity import ParityReport
    from trainer.tasks.base import Task

# Progress lines of a long export ("converting to GGUF (f16)", "quantising to q4_k_m"), shown as they come.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportSource:
    """A finished local run, as every format reads it."""

    run_id: int
    run_dir: Path  # runs/run-N; the trained model is in run_dir/"model"
    config: dict[str, Any]  # the run's config.json
    task: Task


@dataclass
class ExportOptions:
    """What the user asked of an export; a format ignores what does not concern it."""

    # GGUF: the quantisations to write besides f16 ("q8_0", "q4_k_m"); empty means the format's defaults.
    quantisations: tuple[str, ...] = ()
    # How many held-out prompts or inputs the parity check runs through both forms.
    parity_examples: int = 8
    # Chat models: how many tokens of each greedy answer must agree.
    parity_tokens: int = 24
    # Hub: the repository to push to, when the user asked for a push (needs HF_TOKEN and the network).
    repo_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Written:
    """What a format wrote: facts for the manifest and the report (the file list and hashes are added by the
    caller, which sees the folder)."""

    # One line each, for the report: "q4_k_m: 4-bit, about 30% of f16's size".
    notes: list[str] = field(default_factory=list)
    # The exact commands that run the export elsewhere ("ollama create run-3 -f Modelfile").
    commands: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class ExportFormat(Protocol):
    """One export format."""

    name: str  # the folder under export/ and the CLI's --format value
    summary: str  # one line: what it is and what runs it

    def refusal(self, source: ExportSource) -> str | None:
        """Why this run cannot be exported in this format, as one sentence with what to do; None when it can."""
        ...

    def write(self, source: ExportSource, out_dir: Path, options: ExportOptions, progress: Progress) -> Written:
        """Write the export into the empty folder `out_dir`; raise UserError with one sentence when it fails."""
        ...

    def parity(self, source: ExportSource, out_dir: Path, options: ExportOptions) -> ParityReport | None:
        """Run the same held-out prompts or inputs through the trained model and the export in `out_dir` and
        say whether they agree; None when the format holds nothing that runs (a model card alone)."""
        ...
