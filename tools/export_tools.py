"""Exports in the chat: a finished run written as merged weights, GGUF, ONNX or a hub folder, checked against the
trained model. An export is a local write into the run's own folder, so it needs no yes; a push to the Hugging
Face Hub changes the world (a public or private repository), so it is a plan that waits for the user's yes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.pending import executor, propose_action
from trainer.core.errors import UserError
from trainer.export.base import ExportOptions
from trainer.export.hub import FORMAT as HUB
from trainer.export.hub import push_folder
from trainer.export.registry import format_named
from trainer.export.writer import EXPORT_FOLDER, ExportResult
from trainer.export.writer import export_run as write_export
from trainer.tasks.registry import task_of

# The pending-plan kind of a push (the user's yes uploads the folder).
PUSH = "hub_push"


def _newest_succeeded(ctx: ToolContext) -> int:
    runs = [run for run in ctx.registry.list_runs() if run["status"] == "succeeded"]
    if not runs:
        raise UserError("No run has finished successfully yet; train one first, then export it.")
    return int(runs[-1]["id"])


def export_run(
    ctx: ToolContext,
    run_id: int | None = None,
    format: str | None = None,
    quantisations: list[str] | None = None,
    repo_id: str | None = None,
) -> dict[str, Any]:
    """Export a finished run's model into a format other tools run, and check that the export answers like the
    trained model (parity: the same held-out prompts or inputs through both). It writes into the run's folder
    (runs/run-N/export/FORMAT/, with manifest.json) and needs no confirmation. Formats: "merged" (a language
    model with its LoRA merged in: transformers, vLLM, TGI), "gguf" (llama.cpp and Ollama, with a Modelfile),
    "onnx" (classifiers, for onnxruntime), "hub" (a folder with a model card, ready for the Hugging Face Hub).

    Args:
        run_id: The run to export; default the newest run that succeeded.
        format: merged, gguf, onnx or hub ("for ollama" means gguf); default the first the run's task offers
            (merged for language models, onnx for classifiers).
        quantisations: gguf only: quantisations besides f16, e.g. ["q8_0", "q4_k_m"].
        repo_id: hub only: a repository such as "user/name" to push to afterwards; the push is a plan that waits
            for the user's yes and needs HF_TOKEN.
    """
    chosen = run_id if run_id is not None else _newest_succeeded(ctx)
    if not format:
        offered = task_of(ctx.registry.get_run(chosen)).exports
        if not offered:
            raise UserError(f"Run {chosen}'s kind of model has no export format; serve it with 'deploy run {chosen}'.")
        format = offered[0]
    if repo_id and format_named(format) is not HUB:
        raise UserError(f"Only a hub export can be pushed; ask for run {chosen} 'for the hub' with the repository.")
    options = ExportOptions(quantisations=tuple(quantisations or ()), repo_id=repo_id or None)
    result: ExportResult = write_export(ctx.workspace, ctx.registry, chosen, format, options)
    data = result.to_dict()
    if repo_id:
        data["push"] = propose_action(
            ctx,
            PUSH,
            {"run_id": chosen, "repo_id": repo_id},
            f"Push run {chosen}'s hub folder ({len(result.files)} files) to https://huggingface.co/{repo_id} "
            "(created private if new)",
        )
    return data


@executor(PUSH)
def _push(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Upload the hub folder the user confirmed (it must still be there, complete with its manifest)."""
    run = ctx.registry.get_run(int(arguments["run_id"]))
    folder = Path(ctx.workspace.run_dir_of(run)) / EXPORT_FOLDER / HUB.name
    if not (folder / "manifest.json").is_file():
        raise UserError(f"Run {run['id']} has no finished hub export any more; export it for the hub again.")
    url = push_folder(folder, str(arguments["repo_id"]))
    message = f"Pushed run {run['id']}'s hub folder to {url}"
    return {"run_id": run["id"], "repo_id": arguments["repo_id"], "url": url, "pushed": True, "message": message}
