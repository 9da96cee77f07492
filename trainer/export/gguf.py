"""The `gguf` export: the run's weights in llama.cpp's format (f16, q8_0 and q4_k_m), with an Ollama Modelfile.

f16 and q8_0 are written by llama.cpp's own converter (trainer/export/llamacpp_tools.py), q4_k_m by llama.cpp's
quantiser from the f16 file (trainer/export/gguf_quant.py). The parity check runs every file in llama.cpp and
compares its greedy answers with the trained model's: f16 exactly, the quantised files within a stated tolerance.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.export.base import ExportOptions, ExportSource, Progress, Written
from trainer.export.parity import ChatAnswer, ChatResponder, Messages, ParityReport, compare_chat

# What the converter writes itself (its --outtype), and what llama.cpp's quantiser makes from the f16 file.
CONVERTED = ("f16", "q8_0")
QUANTISED = ("q4_k_m",)
DEFAULT_KINDS = ("f16", "q8_0", "q4_k_m")
# The share of each greedy answer a quantised file must repeat, on average, before it first differs from the
# trained model's. A small model meets many near-ties in greedy decoding, and one flipped token sends the rest
# of the answer elsewhere: SmolLM2-135M measured 45% (base model) and 65% (a LoRA identity run) for q8_0, 22%
# and 32% for q4_k_m, over 8 prompts of 24 tokens. The bar is set to catch a broken quantisation (answers that
# part at once), not to fail a sound one; a different template or stop token fails whatever the share.
QUANTISED_TOLERANCE = {"q8_0": 0.4, "q4_k_m": 0.2}
# The file the Modelfile points at, the first of these that was written: 8-bit is about half of f16's size and
# answers like it.
MODELFILE_PREFERENCE = ("q8_0", "f16", "q4_k_m")


def file_name(kind: str) -> str:
    return f"model-{kind}.gguf"


def wanted_kinds(options: ExportOptions) -> tuple[str, ...]:
    """f16 always (the others are checked against the same weights), then what the user asked for."""
    asked = tuple(kind.strip().lower() for kind in options.quantisations) or DEFAULT_KINDS
    unknown = [kind for kind in asked if kind not in (*CONVERTED, *QUANTISED)]
    if unknown:
        known = ", ".join((*CONVERTED, *QUANTISED))
        raise UserError(f"GGUF export writes {known}, not {', '.join(unknown)}; choose among those.")
    return tuple(dict.fromkeys(("f16", *asked)))


def written_kinds(out_dir: Path) -> list[str]:
    return [kind for kind in DEFAULT_KINDS if (out_dir / file_name(kind)).is_file()]


class GgufFormat:
    name = "gguf"
    summary = "GGUF files (f16, q8_0, q4_k_m) for llama.cpp, Ollama and LM Studio, with an Ollama Modelfile"

    def refusal(self, source: ExportSource) -> str | None:
        if self.name not in source.task.exports:
            offered = " or ".join(source.task.exports) or "no other format"
            return f"GGUF holds language models only; export run {source.run_id} as {offered} instead."
        if not (source.run_dir / "model").is_dir():
            return f"Run {source.run_id} has no trained model yet; export it once it has finished."
        return None

    def write(self, source: ExportSource, out_dir: Path, options: ExportOptions, progress: Progress) -> Written:
        from trainer.export import gguf_quant, llamacpp_tools
        from trainer.export.gguf_source import merged_folder

        kinds = wanted_kinds(options)
        written = Written()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="merged-", dir=out_dir.parent) as scratch:
            progress("preparing the model (a LoRA adapter is merged into its base)")
            folder = merged_folder(source, Path(scratch) / "merged")
            progress("fetching llama.cpp's converter")
            llamacpp_tools.converter_dir()
            for kind in (kind for kind in kinds if kind in CONVERTED):
                progress(f"converting to GGUF ({kind})")
                llamacpp_tools.convert(folder, out_dir / file_name(kind), kind)
            modelfile_written = self._modelfile(source, folder, out_dir, kinds, written)
        for kind in (kind for kind in kinds if kind in QUANTISED):
            progress(f"quantising to {kind}")
            try:
                gguf_quant.quantise(out_dir / file_name("f16"), out_dir / file_name(kind), kind)
            except UserError as error:
                written.notes.append(f"{kind} was skipped: {error}")
                continue
            note = gguf_quant.fallback_note(out_dir / file_name(kind), kind)
            if note:
                written.notes.append(note)
        sizes = {kind: (out_dir / file_name(kind)).stat().st_size for kind in written_kinds(out_dir)}
        for kind, size in sizes.items():
            share = f", {size / sizes['f16']:.0%} of f16" if kind != "f16" and sizes.get("f16") else ""
            written.notes.append(f"{file_name(kind)}: {size / 1e6:.1f} MB{share}")
        written.facts.update({"files": {kind: file_name(kind) for kind in sizes}, "sizes": sizes})
        written.facts["seconds"] = round(time.monotonic() - started, 1)
        if modelfile_written:
            final = source.run_dir / "export" / self.name
            written.commands.append(f"cd {final} && ollama create run-{source.run_id} -f Modelfile")
            written.commands.append(f"ollama run run-{source.run_id}")
        written.commands.append(f"llama-cli -m {file_name('f16')} -cnv")
        return written

    def _modelfile(
        self, source: ExportSource, folder: Path, out_dir: Path, kinds: tuple[str, ...], written: Written
    ) -> bool:
        """Write the Modelfile; a template Ollama cannot express is a note, not a failed export."""
        from trainer.export.gguf_source import data_system_prompt
        from trainer.export.modelfile_build import build_modelfile

        target = next(kind for kind in (*MODELFILE_PREFERENCE, *kinds) if kind in kinds)
        system, note = data_system_prompt(source)
        if note:
            written.notes.append(note)
        try:
            text, stops = build_modelfile(folder, file_name(target), system)
        except UserError as error:
            written.notes.append(f"No Modelfile: {error}")
            return False
        (out_dir / "Modelfile").write_text(text, encoding="utf-8")
        written.facts["modelfile"] = {"from": file_name(target), "stops": stops, "system": system}
        return True

    def parity(self, source: ExportSource, out_dir: Path, options: ExportOptions) -> ParityReport | None:
        from trainer.export.chat_forms import TransformersChat, held_out_prompts
        from trainer.export.llama_chat import LlamaCppChat

        kinds = written_kinds(out_dir)
        if not kinds:
            return None
        prompts = held_out_prompts(source.run_dir, options.parity_examples)
        trained = Remembered(TransformersChat.trained(source.run_dir))
        reports: dict[str, ParityReport] = {}
        for kind in kinds:
            exported = LlamaCppChat(out_dir / file_name(kind), f"GGUF {kind} (llama.cpp)")
            try:
                reports[kind] = compare_chat(
                    trained, exported, prompts, options.parity_tokens, QUANTISED_TOLERANCE.get(kind)
                )
            finally:
                exported.close()
        return combined(reports)


class Remembered:
    """A responder whose answers are computed once per prompt: the trained model answers the same prompts for
    every file compared with it."""

    def __init__(self, inner: ChatResponder):
        self.inner, self.label = inner, inner.label
        self._answers: dict[str, ChatAnswer] = {}

    def render(self, messages: Messages) -> str | None:
        return self.inner.render(messages)

    def answer(self, messages: Messages, max_tokens: int) -> ChatAnswer:
        key = json.dumps([messages, max_tokens], sort_keys=True)
        if key not in self._answers:
            self._answers[key] = self.inner.answer(messages, max_tokens)
        return self._answers[key]


def combined(reports: dict[str, ParityReport]) -> ParityReport:
    """One verdict over every file: each must pass its own check; rows say which file they are from."""
    first = next(iter(reports.values()))
    failed = [(kind, report) for kind, report in reports.items() if not report.ok]
    details: list[dict[str, Any]] = []
    for kind, report in reports.items():
        details += [{"file": file_name(kind), **row} for row in report.details]
    mismatch: dict[str, Any] | None = None
    if failed:
        kind, report = failed[0]
        mismatch = {"file": file_name(kind), **(report.first_mismatch or {})}
    tolerances = [f"{kind}: {report.tolerance}" for kind, report in reports.items() if report.tolerance]
    exact = [kind for kind, report in reports.items() if not report.tolerance]
    if exact:
        tolerances.insert(0, f"{', '.join(exact)}: every answer token for token")
    return ParityReport(
        ok=not failed,
        trained=first.trained,
        exported="GGUF " + ", ".join(reports) + " (llama.cpp)",
        checked=sum(report.checked for report in reports.values()),
        agreed=sum(report.agreed for report in reports.values()),
        details=details,
        first_mismatch=mismatch,
        cause=failed[0][1].cause if failed else None,
        fix=failed[0][1].fix if failed else None,
        tolerance="; ".join(tolerances),
    )


FORMAT = GgufFormat()
