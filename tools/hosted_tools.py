"""Fine-tuning through a hosted API (OpenAI, Together AI): the plan with its cost, and the job the user's yes starts.

The plan waits in the chat's one pending-plan store (tools/pending.py) and only the user's own "go" or "yes",
handled in code, starts the job; no LLM tool can, so a model cannot spend money on the user's behalf.
"""

from __future__ import annotations

from typing import Any

from tools.context import ToolContext
from tools.data_tools import propose_plan
from tools.pending import confirm_pending, drop_pending, executor, pending_action, propose_action
from tools.session_files import resolve_file
from trainer.backends.base import HostedBackend, HostedClosed
from trainer.backends.registry import all_backends, get_backend, hosted_backends, hosted_for
from trainer.core.errors import UserError

HOSTED_NEXT_STEP = (
    "Nothing has been uploaded. Show this plan and its cost to the user; the job starts only when the user "
    "replies 'go' (tunechat handles that reply itself)."
)


def plan_hosted_job(
    ctx: ToolContext,
    file: str,
    backend: str | None = None,
    model: str | None = None,
    epochs: float | None = None,
    batch_size: int | None = None,
    learning_rate_multiplier: float | None = None,
    suffix: str | None = None,
    learning_rate: float | None = None,
    method: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    placeholders: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The hosted job plan for a file (format check, conversion, split, tokens, cost); uploads nothing.

    The plan becomes this chat's pending plan: only the user's own "go" (guided mode, the LLM chat, the CLI
    prompt or --yes) uploads the files and creates the job.
    """
    # One plan waits at a time: "go" must mean this plan, not an earlier one (dropped even when this one fails).
    drop_pending(ctx)
    provider = hosted_for(backend, model) or hosted_backends()[0]
    path = resolve_file(ctx, file)
    settings = {
        "n_epochs": epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": learning_rate_multiplier,
        "suffix": suffix,
        # Read by the providers that take them (Together: an absolute learning rate, and lora or full).
        "learning_rate": learning_rate,
        "method": method,
        "text_column": text_column,
        "label_column": label_column,
        "placeholders": placeholders,
    }
    plan = provider.plan(ctx.workspace, path, model, settings)
    cost = plan.get("estimated_cost_usd")
    summary = f"Upload {path.name} and start a fine-tuning job of {plan['model']} on {provider.title}" + (
        f" (about ${cost:.2f})" if cost is not None else ""
    )
    # The file and the user's own settings ride along, so a refusal can offer the same plan elsewhere.
    given = {key: value for key, value in settings.items() if value is not None}
    arguments = {"backend": provider.name, "plan_id": plan["plan_id"], "file": file, "settings": given}
    propose_action(ctx, "hosted_job", arguments, summary)
    plan["next_step"] = HOSTED_NEXT_STEP
    return plan


def confirm_hosted_job(ctx: ToolContext, plan_id: str | None = None) -> dict[str, Any]:
    """Upload the confirmed plan's files and create its job (once), then follow it in the background.

    Not an LLM tool on purpose: call it only from code handling the user's own confirmation. Without
    `plan_id` it confirms the chat's pending job plan; with one, that plan (again: a plan already confirmed
    reports its job instead of making another).
    """
    waiting = pending_action(ctx, "hosted_job")
    if plan_id is None or (waiting is not None and waiting["arguments"]["plan_id"] == plan_id):
        if waiting is None:
            raise UserError("There is no job plan waiting for a yes; ask e.g. 'fine-tune gpt-4.1-mini on this' first.")
        done = confirm_pending(ctx, waiting["id"], kind="hosted_job")
        if done.get("refused"):  # the same one sentence as the chat's, for the command line and other callers
            raise HostedClosed(str(done["message"]))
        return done
    return _provider_of(ctx, plan_id).confirm(ctx.workspace, ctx.registry, plan_id, session_id=ctx.session_id)


def _provider_of(ctx: ToolContext, plan_id: str) -> HostedBackend:
    for provider in hosted_backends():
        if provider.owns_plan(ctx.workspace, plan_id):
            return provider
    raise UserError(f"There is no job plan {plan_id}; ask for a new plan (e.g. 'fine-tune gpt-4.1-mini on this').")


@executor("hosted_job", options=("go", "no"))
def _start_hosted_job(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    provider = get_backend(str(arguments["backend"]))
    if not isinstance(provider, HostedBackend):
        raise UserError(f"'{provider.name}' does not run hosted jobs; ask for a new plan.")
    try:
        result = provider.confirm(ctx.workspace, ctx.registry, str(arguments["plan_id"]), session_id=ctx.session_id)
    except HostedClosed as refused:
        return offer_elsewhere(ctx, provider, arguments, refused)
    return {**result, "provider": provider.provider}


# ---- the same plan elsewhere, when a provider refuses to fine-tune for this account at all ----------------


def elsewhere_choices(refusing: HostedBackend) -> list[dict[str, str]]:
    """The other places the plan can run, as the replies that pick them: every other hosted backend of the
    registry ("run it on together"), then this machine ("train it locally")."""
    choices = [
        {"reply": f"run it on {backend.name}", "backend": backend.name, "title": backend.title}
        for backend in hosted_backends()
        if backend.name != refusing.name
    ]
    choices += [
        {"reply": "train it locally", "backend": backend.name, "title": backend.title}
        for backend in all_backends()
        if not backend.hosted
    ]
    return choices


def offer_elsewhere(
    ctx: ToolContext, refusing: HostedBackend, arguments: dict[str, Any], refused: HostedClosed
) -> dict[str, Any]:
    """Leave the refused plan's twin waiting for a yes (or a pick among the choices): the same file and settings
    planned on another backend. Nothing is planned, uploaded or started until the user picks."""
    choices = elsewhere_choices(refusing)
    runs = ctx.registry.list_runs(ctx.session_id) if ctx.session_id else []
    if arguments.get("file") and choices:
        places = " or ".join(f"{choice['title']} ('{choice['reply']}')" for choice in choices)
        summary = f"Plan the same fine-tuning of {arguments['file']} on {places}"
        offer = {"file": arguments["file"], "settings": arguments.get("settings") or {}, "choices": choices}
        propose_action(ctx, "hosted_elsewhere", offer, summary)
    return {
        "refused": True,
        "message": str(refused),
        "provider": refusing.provider,
        "run_id": runs[-1]["id"] if runs else None,
        "choices": [choice["reply"] for choice in choices],
    }


@executor("hosted_elsewhere", options=("no",))
def _plan_elsewhere(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The user picked a place (a plain yes picks the first): that backend's plan, waiting for its own yes."""
    choices = arguments["choices"]
    picked = next((c for c in choices if c["reply"] == arguments.get("choice")), choices[0])
    backend = get_backend(picked["backend"])
    settings = dict(arguments.get("settings") or {})
    if isinstance(backend, HostedBackend):
        plan = plan_hosted_job(
            ctx,
            arguments["file"],
            backend=backend.name,
            epochs=settings.get("n_epochs"),
            batch_size=settings.get("batch_size"),
            learning_rate_multiplier=settings.get("learning_rate_multiplier"),
            suffix=settings.get("suffix"),
            text_column=settings.get("text_column"),
            label_column=settings.get("label_column"),
            placeholders=settings.get("placeholders"),
        )
        return {"backend": backend.name, "hosted": True, "plan": plan}
    local = propose_plan(
        ctx,
        arguments["file"],
        epochs=settings.get("n_epochs"),
        text_column=settings.get("text_column"),
        label_column=settings.get("label_column"),
        placeholders=settings.get("placeholders"),
    )
    return {"backend": backend.name, "hosted": False, "plan": local.to_dict()}
