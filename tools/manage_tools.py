"""Tools that delete a run or a dataset, or take a deployed model offline. They only propose: tools/pending.py
carries the action out after the user's own yes, so neither a model nor an instruction hidden in a data file can
delete anything or take an endpoint down.

Each executor checks again when it runs, because a run may have started training or been deployed
between the plan and the yes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.pending import executor, propose_action
from tools.session_files import owns_path, resolve_file
from trainer.core.errors import UserError
from trainer.serve.deploy import list_deployments, stop_deployment
from trainer.store.registry import FINISHED
from trainer.store.runs import RunRecord


def delete_run(ctx: ToolContext, run_id: int) -> dict[str, Any]:
    """Propose deleting a finished run: its folder (model, checkpoints, logs, evaluation) and its record. This only
    checks the run and returns the plan; nothing is deleted until the user replies "yes", which tunechat itself
    handles (you cannot). A running or deployed run is refused.

    Args:
        run_id: The run to delete.
    """
    run = _deletable_run(ctx, run_id)
    folder = _run_folder(ctx, run)
    model = Path(str(run["config"].get("model") or run["model"])).name
    what = f"its folder {_shown(ctx, folder)} and its record" if folder.exists() else "its record"
    summary = f"Delete run {run_id} ({run['status']}, {run['task']}, {model}): {what}"
    return propose_action(ctx, "delete_run", {"run_id": run_id}, summary)


def delete_dataset(ctx: ToolContext, dataset: str) -> dict[str, Any]:
    """Propose deleting an uploaded file or a prepared dataset folder from the workspace. This only checks the name
    and returns the plan; nothing is deleted until the user replies "yes", which tunechat itself handles (you
    cannot). Runs trained on it keep their own copies of the splits and their models.

    Args:
        dataset: An uploaded file name as listed by list_files (e.g. "reviews.tsv"), or a prepared dataset folder
            (e.g. "datasets/reviews-0123abcd4567").
    """
    target = _dataset_target(ctx, dataset)
    used = _finished_runs_using(ctx, target)
    kind = "prepared dataset folder" if target.is_dir() else "uploaded file"
    summary = f"Delete the {kind} {_shown(ctx, target)}"
    shared = len(_other_owners(ctx, target))
    if shared:
        summary = (
            f"Remove the {kind} {_shown(ctx, target)} from this chat ({shared} other chat{'s' if shared > 1 else ''} "
            f"also {'use' if shared > 1 else 'uses'} it, so its files stay)"
        )
    if used:
        many = len(used) > 1
        summary += f" (used by run{'s' if many else ''} {_id_list(used)}, which keep{'' if many else 's'} "
        summary += f"{'their models' if many else 'its model'})"
    return propose_action(ctx, "delete_dataset", {"path": _shown(ctx, target)}, summary)


def stop_serving(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Propose stopping the HTTP server(s) of a deployed run, taking its endpoint offline. This only checks and returns
    the plan; nothing stops until the user replies "yes", which tunechat itself handles (you cannot).

    Args:
        run_id: The deployed run whose server should stop; default the most recently deployed one.
    """
    if run_id is not None:
        ctx.registry.get_run(run_id)  # a clear error for an unknown id
    served = list_deployments(ctx.workspace, ctx.registry, run_id, check_health=False)
    if not served:
        if run_id is None:
            raise UserError("No model is being served right now; say 'deploy run N' to serve one.")
        raise UserError(f"Run {run_id} is not being served; say 'deploy run {run_id}' to start a server for it.")
    run_id = int(served[-1]["run_id"])
    urls = ", ".join(str(d["url"]) for d in served if d["run_id"] == run_id)
    return propose_action(ctx, "stop_serving", {"run_id": run_id}, f"Stop serving run {run_id} at {urls}")


@executor("stop_serving")
def _stop_serving(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    run_id = int(arguments["run_id"])
    stopped = stop_deployment(ctx.workspace, ctx.registry, run_id)
    urls = ", ".join(str(d["url"]) for d in stopped["stopped"])
    return {**stopped, "message": f"Stopped serving run {run_id} ({urls})"}


@executor("delete_run")
def _delete_run(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    run_id = int(arguments["run_id"])
    run = _deletable_run(ctx, run_id)
    folder = _run_folder(ctx, run)
    removed = _shown(ctx, folder) if folder.exists() else None
    if folder.exists():
        shutil.rmtree(folder)
    ctx.registry.delete_run(run_id)
    return {"run_id": run_id, "deleted_folder": removed, "message": f"Deleted run {run_id}"}


@executor("delete_dataset")
def _delete_dataset(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    target = _dataset_target(ctx, str(arguments["path"]))
    used = _finished_runs_using(ctx, target)
    shown = _shown(ctx, target)
    if target.is_dir():
        # The folder is named by its content, so another chat that prepared the same data holds it too: this
        # chat lets go of it, and the folder goes only with the last chat's claim.
        others = ctx.registry.release_session_file(ctx.session_id, shown)
        if others:
            chats = f"{others} other chats still use" if others > 1 else "1 other chat still uses"
            message = f"Removed {shown} from this chat; {chats} it"
            return {"deleted": shown, "used_by_runs": used, "kept_for_other_chats": others, "message": message}
        shutil.rmtree(target)
    else:
        target.unlink()
    return {"deleted": shown, "used_by_runs": used, "message": f"Deleted {shown}"}


# ---- checks -----------------------------------------------------------------------------------


def _deletable_run(ctx: ToolContext, run_id: int) -> RunRecord:
    run = ctx.registry.get_run(run_id)  # a clear error for an unknown id
    if run["status"] not in FINISHED:
        raise UserError(f"Run {run_id} is {run['status']}; stop it first (say 'stop run {run_id}'), then delete it.")
    served = list_deployments(ctx.workspace, ctx.registry, run_id, check_health=False)
    if served:
        raise UserError(
            f"Run {run_id} is being served at {served[0]['url']}; stop that server first "
            f"(say 'stop serving run {run_id}'), then delete the run."
        )
    return run


def _run_folder(ctx: ToolContext, run: Mapping[str, Any]) -> Path:
    """The run's folder, refused unless it lies in the workspace's runs/ (the registry row says where)."""
    folder = ctx.workspace.run_dir_of(run).resolve()
    runs = ctx.workspace.runs.resolve()
    if folder == runs or not folder.is_relative_to(runs):
        raise UserError(f"Run {run['id']}'s folder {folder} is outside the workspace's runs/, so tunechat leaves it.")
    return folder


def _dataset_target(ctx: ToolContext, name: str) -> Path:
    """This chat's upload, or a prepared folder it made (datasets/<folder>, its bare name, or a file inside it)."""
    if not name or not name.strip():
        raise UserError("No dataset was named; say e.g. 'delete dataset reviews.tsv' (see 'list files').")
    candidate = Path(name.strip())
    root = ctx.workspace.root.resolve()
    datasets = root / "datasets"
    if len(candidate.parts) == 1 and (datasets / candidate).is_dir():
        path = datasets / candidate
    else:
        # normpath collapses ".." without following links: a link is judged by where it sits.
        path = Path(os.path.normpath(candidate if candidate.is_absolute() else root / candidate))
    if path.is_relative_to(datasets) and path != datasets:
        folder = datasets / path.relative_to(datasets).parts[0]  # a file inside a prepared folder means the folder
        if folder.is_dir() and not folder.is_symlink():
            if not owns_path(ctx, folder):
                raise UserError(f"'{name}' was prepared in another chat; delete it from that chat.")
            return folder
    path = resolve_file(ctx, name)  # this chat's uploads only, with one clear sentence otherwise
    if not path.is_relative_to(ctx.workspace.uploads.resolve()):
        raise UserError(f"'{name}' is not an upload or a prepared dataset; tunechat deletes only those.")
    return path


def _finished_runs_using(ctx: ToolContext, target: Path) -> list[int]:
    """Ids of the runs whose data file is `target` or lies inside it; refused while one of them still trains."""
    used = []
    for run in ctx.registry.list_runs():
        data = run["config"].get("data") or run.get("data")
        if not data:
            continue
        path = Path(str(data))
        if not path.is_absolute():
            path = ctx.workspace.root / path
        path = path.resolve()
        if path == target or path.is_relative_to(target):
            used.append(run)
    active = [run["id"] for run in used if run["status"] not in FINISHED]
    if active:
        raise UserError(
            f"Run {active[0]} is still training on {_shown(ctx, target)}; stop it first "
            f"(say 'stop run {active[0]}'), then delete the data."
        )
    return [int(run["id"]) for run in used]


def _other_owners(ctx: ToolContext, target: Path) -> list[str]:
    """The other chats that hold a prepared folder (none for an upload, which only its own chat has)."""
    if not target.is_dir() or not ctx.session_id:
        return []  # the command line deletes for every chat
    return [owner for owner in ctx.registry.file_owners(_shown(ctx, target)) if owner != ctx.session_id]


def _shown(ctx: ToolContext, path: Path) -> str:
    """A path as the chat shows it: relative to the workspace."""
    return Path(os.path.normpath(path)).relative_to(ctx.workspace.root.resolve()).as_posix()


def _id_list(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)
