"""Tools that start, watch, stop, evaluate, compare and deploy training runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.data_tools import propose_plan
from tools.hosted_tools import plan_hosted_job
from tools.pending import executor, propose_action
from trainer.backends import runs
from trainer.backends.registry import get_backend, hosted_for
from trainer.core.errors import UserError
from trainer.evaluate.compare import compare_runs as compare_run_records
from trainer.evaluate.metrics import Evaluation, load_evaluation
from trainer.serve.deploy import check_deployable
from trainer.serve.deploy import deploy_run as deploy_run_process
from trainer.serve.handoff import offer as handoff_offer
from trainer.tasks.registry import task_of

RUN_SUMMARY_FIELDS = ("id", "status", "task", "model", "data", "created_at", "error")
# Told to the model with a training plan, so it asks for the user's yes instead of claiming the run started.
START_NEXT_STEP = (
    "Nothing has started yet. Show this plan and ask the user to reply 'yes' (or 'go') to start it; tunechat starts "
    "exactly this plan on that reply (you cannot)."
)
# Chat deployments listen on loopback only; exposing a model to the network is the CLI's `serve --host`.
DEPLOY_HOST = "127.0.0.1"


def start_training(
    ctx: ToolContext,
    file: str,
    model: str | None = None,
    epochs: float | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    freeze_layers: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    backend: str | None = None,
    suffix: str | None = None,
    task: str | None = None,
    method: str | None = None,
    placeholders: dict[str, str] | None = None,
    sample_prompts: list[str] | None = None,
) -> dict[str, Any]:
    """Ask to start fine-tuning on an uploaded file with these settings: this stores the plan the user will be
    asked to start and returns it, and nothing starts until the user replies "yes" (or "go") to it, which tunechat
    handles itself (you cannot). With backend "openai" (or an OpenAI model such as gpt-4.1-mini) or "together"
    the plan is a hosted job with its estimated cost, and nothing is uploaded before the user's yes either.

    Args:
        file: Name of an uploaded file in the workspace.
        model: Base model (a Hugging Face id or local path); default all-MiniLM-L6-v2.
        epochs: Number of passes over the training split.
        learning_rate: Peak learning rate, e.g. 5e-5.
        batch_size: Examples per optimizer step.
        max_length: Longest input in tokens.
        freeze_layers: Number of lower encoder layers to keep frozen.
        text_column: Column holding the text.
        label_column: Column holding the label.
        backend: "local" (default), "openai" (the OpenAI API) or "together" (Together AI's API).
        suffix: Hosted backends only: text added to the fine-tuned model's name.
        task: text-classification, sft or dpo; default from the data.
        method: full, freeze, lora or qlora; for sft/dpo the default is lora.
        placeholders: Values for {{placeholders}} in chat data the user gave, e.g. {"name": "Nova", "author": "Acme"}.
        sample_prompts: Prompts the model answers before and after training, only when the user asked for some.
    """
    provider = hosted_for(backend, model)
    if provider is not None:
        return plan_hosted_job(
            ctx, file, provider.name, model=model, epochs=epochs, batch_size=batch_size, suffix=suffix,
            text_column=text_column, label_column=label_column, placeholders=placeholders,
            learning_rate=learning_rate, method=method,
        )  # fmt: skip
    get_backend(backend)  # an unknown backend name gets its one sentence here
    plan = propose_plan(
        ctx,
        file,
        model=model,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        freeze_layers=freeze_layers,
        text_column=text_column,
        label_column=label_column,
        task=task,
        method=method,
        placeholders=placeholders,
        sample_prompts=sample_prompts,
    )
    if plan.extra.get("question"):  # placeholders without values: nothing waits for a yes until they have some
        return {**plan.to_dict(), "needs_confirmation": False, "next_step": "Ask: " + str(plan.extra["question"])}
    return {**plan.to_dict(), "needs_confirmation": True, "next_step": START_NEXT_STEP}


def run_status(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Report a run's status and progress: step, total steps, latest loss, elapsed time and ETA.

    Args:
        run_id: The run to report on; default the newest run of this chat.
    """
    status = runs.run_status(ctx.workspace, ctx.registry, _pick_run(ctx, run_id))
    return {"run_id": status["id"], **status}


def stop_run(ctx: ToolContext, run_id: int | None = None) -> dict[str, Any]:
    """Stop a running training run of this chat (its checkpoints stay on disk and its status becomes cancelled).
    A run another chat started is only proposed for stopping: it stops when the user replies "yes".

    Args:
        run_id: The run to stop; default the active run of this chat.
    """
    if run_id is None:
        run_id = runs.latest_active_run(ctx.registry, ctx.session_id)
        if run_id is None:
            raise UserError("No run of this chat is training right now; say 'list runs' to see earlier runs.")
    run = ctx.registry.get_run(run_id)
    if ctx.session_id and run["session_id"] != ctx.session_id:
        # Another chat's run (or one started from the command line) stops only on this user's explicit yes.
        summary = f"Stop run {run_id} ({run['status']}), which another chat started"
        return propose_action(ctx, STOP_OTHER, {"run_id": run_id}, summary)
    status = runs.stop_run(ctx.workspace, ctx.registry, run_id)
    return {"run_id": status.get("id", run_id), **status}


# The pending-plan kind of stopping a run another chat started.
STOP_OTHER = "stop_run"


@executor(STOP_OTHER)
def _stop_other_run(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    status = runs.stop_run(ctx.workspace, ctx.registry, int(arguments["run_id"]))
    return {"run_id": status["id"], **status}


def evaluate_run(ctx: ToolContext, run_id: int | None = None) -> Evaluation:
    """Show a finished run's test-split evaluation: accuracy, macro-F1, per-class precision and recall, the
    confusion matrix image, beside a majority-class baseline; for a regression run RMSE, MAE, R², Spearman and
    Pearson beside always predicting the training mean, and a predicted-vs-true plot; for a language-model run the
    base model against the tuned one on held-out chats (validation loss, perplexity, exact match / token F1 /
    ROUGE-L / chrF as fit the data, their answers side by side) and, for preference runs, reward accuracy and how
    often its own answers are closer to the chosen answer.

    Args:
        run_id: The run to evaluate; default the newest run of this chat.
    """
    return load_evaluation(ctx.workspace, ctx.registry, _pick_run(ctx, run_id))


def compare_runs(ctx: ToolContext, run_ids: list[int]) -> dict[str, Any]:
    """Compare two or more runs: their configs side by side with differences marked, their metrics, and one
    plot with all their loss curves.

    Args:
        run_ids: The ids of the runs to compare, e.g. [1, 2].
    """
    return compare_run_records(ctx.workspace, ctx.registry, list(run_ids))


def deploy_run(ctx: ToolContext, run_id: int | None = None, port: int | None = None) -> dict[str, Any]:
    """Propose serving a finished run's model on a local HTTP endpoint. This only checks the run and returns the
    plan: nothing is started until the user replies "yes" to it, and tunechat itself handles that reply (you
    cannot). Show the plan and ask for the yes. A run that is already served is reported as it is. On a machine
    with a GPU a language-model run is handed to vLLM (or Ollama) instead: the result's "handoff" lists the exact
    commands for the user to run, and nothing waits for a yes.

    Args:
        run_id: The run to deploy; default the newest successful run.
        port: Port on 127.0.0.1 to listen on; default the first free port from 8000.
    """
    if run_id is None:
        succeeded = [run for run in ctx.registry.list_runs() if run["status"] == "succeeded"]
        if not succeeded:
            raise UserError("No run has finished successfully yet; train one first, then deploy it.")
        run_id = succeeded[-1]["id"]
    check = check_deployable(ctx.workspace, ctx.registry, run_id, host=DEPLOY_HOST, port=port)
    if check["existing"] is not None:  # already serving: nothing to change, so nothing to confirm
        return {**check["existing"], "already_running": True}
    run = check["run"]
    handoff = handoff_offer(run, check["run_dir"], check["port"])
    if handoff is not None:  # a GPU serves it better than our own server: the commands, nothing to confirm
        return handoff
    model = Path(str(run["config"].get("model") or run["model"])).name
    summary = f"Deploy run {run_id} ({run['task']}, {model}) on http://{DEPLOY_HOST}:{check['port']}"
    if port is None:
        summary += " (or the next free port)"
    # The port the user asked for is kept; without one the executor picks the first free port when it runs.
    return propose_action(ctx, "deploy", {"run_id": run_id, "port": port}, summary)


@executor("deploy")
def _deploy(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Start the server the user confirmed (trainer.serve.deploy checks the run and the port again)."""
    port = arguments.get("port")
    return deploy_run_process(
        ctx.workspace, ctx.registry, int(arguments["run_id"]), port=int(port) if port is not None else None
    )


def list_runs(ctx: ToolContext) -> dict[str, Any]:
    """List all training runs with their status, base model, data file and test metrics."""
    runs = []
    for run in ctx.registry.list_runs():
        summary = {key: run[key] for key in RUN_SUMMARY_FIELDS}
        summary["data"] = Path(str(run["data"])).name  # the file, not the folder of the chat that uploaded it
        metrics = run.get("metrics") or {}
        summary["accuracy"] = metrics.get("accuracy")
        summary["macro_f1"] = metrics.get("macro_f1")
        # Every task's result by the metric that ranks its runs, so regression and LLM runs show one too.
        summary["result"] = task_of(run).headline(metrics)
        runs.append(summary)
    return {"runs": runs}


def _pick_run(ctx: ToolContext, run_id: int | None) -> int:
    """The run the user means when they name none: this chat's newest, else the newest overall."""
    if run_id is not None:
        ctx.registry.get_run(run_id)  # a clear error for an unknown id
        return run_id
    runs = ctx.registry.list_runs(ctx.session_id) or ctx.registry.list_runs()
    if not runs:
        raise UserError("There are no runs yet; upload a data file and say 'train' to start one.")
    return int(runs[-1]["id"])
