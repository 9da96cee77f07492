"""The one short question guided mode asks when a message is about as close to two intents: both as buttons.

Each button is a message the rules understand on their own (an exact command with the run ids the user named),
so a click, or typing it, is then understood without doubt.
"""

from __future__ import annotations

# What to say for each intent; {run} is the first run id the message named, {other} the second.
COMMANDS: dict[str, tuple[str, str, str]] = {
    # intent: (no run named, one run named, two runs named)
    "status": ("status", "status of run {run}", "status of run {run}"),
    "evaluate": ("evaluate", "evaluate run {run}", "evaluate run {run}"),
    "compare": ("compare the last two runs", "compare the last two runs", "compare run {run} and run {other}"),
    "explain": ("explain the comparison", "explain the comparison", "why did run {run} beat run {other}?"),
    "deploy": ("deploy it", "deploy run {run}", "deploy run {run}"),
    "undeploy": ("stop serving", "stop serving run {run}", "stop serving run {run}"),
    "stop": ("stop the training", "stop run {run}", "stop run {run}"),
    "resume": ("resume the run", "resume run {run}", "resume run {run}"),
    "export": ("export it", "export run {run}", "export run {run}"),
    "delete": ("delete this file", "delete run {run}", "delete run {run}"),
    "diagnose": ("why did it fail?", "why did run {run} fail?", "why did run {run} fail?"),
    "relaunch": ("relaunch it", "fix run {run}", "fix run {run}"),
    "judge": ("judge the answers", "judge run {run}", "judge run {run}"),
    "rerun_like": ("same as last time", "same as run {run}", "same as run {run}"),
    "list_runs": ("list runs", "list runs", "list runs"),
    "best_run": ("show the best run", "show the best run", "show the best run"),
    "deploy_best": ("deploy the best run", "deploy the best run", "deploy the best run"),
    "train": ("fine-tune on this", "fine-tune on this", "fine-tune on this"),
    "inspect": ("inspect the data", "inspect the data", "inspect the data"),
    "prepare": ("clean it up", "clean it up", "clean it up"),
    "dry_run": ("dry run", "dry run", "dry run"),
    "search": ("tune the hyperparameters", "tune the hyperparameters", "tune the hyperparameters"),
    "search_status": ("search status", "search status", "search status"),
    "search_stop": ("stop the search", "stop the search", "stop the search"),
    "search_resume": ("resume the search", "resume the search", "resume the search"),
    "remedy": ("retrain with the remedy", "retrain run {run} with the remedy", "retrain run {run} with the remedy"),
    "go": ("go", "go", "go"),
    "help": ("help", "help", "help"),
}


def command_for(intent: str, run_ids: list[int]) -> str:
    """The message that asks for `intent` (about the runs named) in words the rules understand."""
    forms = COMMANDS.get(intent, ("help", "help", "help"))
    form = forms[min(len(run_ids), 2)]
    ids = [*run_ids, 0, 0]
    return form.format(run=ids[0], other=ids[1])


def question(choices: list[str], run_ids: list[int]) -> tuple[str, list[str]]:
    """The question and its two buttons."""
    first, second = (command_for(choice, run_ids) for choice in choices[:2])
    return f"Did you mean **{first}** or **{second}**? Pick one (or say it in other words).", [first, second]
