"""The user's own yes or no to the chat's pending action, handled in code before any LLM sees the message.

tools/pending.py keeps the one action waiting in each chat. Here a message that is a plain yes carries it
out and a plain no drops it; anything else goes on to the assistant as usual (the plan keeps waiting).
The plan the user says yes to is always shown by this code (`pending_notice`), never only in the model's
words, so what "yes" confirms cannot be misrepresented. A dry run of the waiting plan is done on the request
alone, with no yes: it spends and keeps nothing (see tools/pending.py), and the plan keeps waiting for this yes.
"""

from __future__ import annotations

import re
import time
from typing import Any

from agent.types import Presenter, Reply, ToolStep
from tools.context import ToolContext
from tools.pending import confirm_pending, drop_pending, pending_action
from trainer.backends import runs
from trainer.core.errors import BusyError, UserError
from trainer.core.records import plain

YES = re.compile(
    r"^\s*(yes|y|yep|yeah|yes please|ok|okay|sure|go|go ahead|do it|confirm(ed)?|proceed|approved?)\s*[.!]*\s*$", re.I
)
# "stop run 3" / "cancel the training" are about a run, not a no to the plan: they go on to the assistant.
NO = re.compile(
    r"^(?!.*\b(runs?|training|job)\b)\s*(no|n|nope|don'?t|do not|cancel|stop|never ?mind|drop it|abort)\b[\s\w,.!']*$",
    re.I,
)


# The words of NO that can also mean "stop the training".
STOP = re.compile(r"^\s*(stop|cancel|abort)\b", re.I)


def is_yes(message: str) -> bool:
    return bool(YES.match(message or ""))


def is_no(message: str) -> bool:
    return bool(NO.match(message or ""))


def choice_in(action: dict[str, Any] | None, message: str) -> str | None:
    """The reply among the waiting action's own choices ("run it on together") that `message` is, or None."""
    said = " ".join((message or "").lower().split()).rstrip(".!")
    choices = (action or {}).get("arguments", {}).get("choices") or []
    return next((str(c["reply"]) for c in choices if str(c["reply"]).lower() == said), None)


def pending_notice(action: dict[str, Any]) -> str:
    """The waiting plan in the words the user confirms."""
    return f"**Waiting for your yes:** {action['summary']}. Reply **yes** to carry it out, or **no** to drop it."


def dropped_notice(action: dict[str, Any]) -> str:
    """Why a plan no longer waits: the user's next message was about something else."""
    return (
        f"_The plan that waited for your yes ({action['summary']}) was dropped, since this message was about "
        "something else; ask for it again when you want it._"
    )


def answer_pending(ctx: ToolContext, message: str, show: Presenter) -> Reply | None:
    """Carry out or drop the pending action when `message` is the user's yes or no to it; else None.

    A bare "stop" while one of this chat's runs trains is about the run, not the plan, so it goes on to the
    assistant.
    """
    action = pending_action(ctx)
    choice = choice_in(action, message)
    if action is None or not (choice or is_yes(message) or is_no(message)):
        return None
    started = time.perf_counter()
    if is_no(message) and not choice:
        if STOP.match(message) and runs.latest_active_run(ctx.registry, ctx.session_id) is not None:
            return None
        drop_pending(ctx)
        step = ToolStep("drop_pending_action", {"plan": action["summary"]}, True, "dropped", 0.0)
        return Reply(text=f"Dropped the plan ({action['summary']}); nothing was done.", steps=[step])
    name, arguments = f"confirm_{action['kind']}", dict(action["arguments"])
    try:
        result = plain(confirm_pending(ctx, action["id"], choice=choice))
    except BusyError as error:
        step = ToolStep(name, arguments, False, str(error), time.perf_counter() - started)
        return Reply(text=f"{error} The plan keeps waiting.", steps=[step])
    except UserError as error:
        # Things changed since the plan (the port was taken, the run was deployed): say so; the plan is gone.
        step = ToolStep(name, arguments, False, str(error), time.perf_counter() - started)
        return Reply(text=f"{error} Nothing was done.", steps=[step])
    step = ToolStep(name, arguments, True, "done", time.perf_counter() - started, result)
    return Reply(text=render_action_result(action["kind"], result, show), steps=[step], images=[])


def render_action_result(kind: str, result: dict[str, Any], show: Presenter) -> str:
    """What a confirmed action did, in the chat's words."""
    if kind == "deploy":
        return show.deployment(result)
    if kind == "train":
        return (
            f"Started **run {result['run_id']}** in the background "
            f"(estimated {show.seconds(result.get('estimate_seconds'))}). "
            "Say **status** to see its progress or **stop** to cancel it."
        )
    if kind == "resume":
        return str(result["message"]).replace(f"run {result['run_id']}", f"**run {result['run_id']}**", 1)
    if kind == "stop_run":
        return show.status(result) + " Its checkpoints stay in the run folder."
    if kind == "relaunch":
        changed = ", ".join(f"{key} {value}" for key, value in (result.get("changes") or {}).items())
        return (
            f"Started **run {result['run_id']}**, replacing run {result['replaces']}"
            + (f" (with {changed})" if changed else "")
            + ". Say **status** to see its progress."
        )
    if kind == "judge":
        return show.judge(result)
    if kind == "hosted_job" and result.get("refused"):
        picks = " or ".join(f"**{reply}**" for reply in result.get("choices") or [])
        offer = f"\n\nReply {picks} for the same plan there (nothing starts before its own yes)." if picks else ""
        return str(result["message"]) + offer
    if kind == "hosted_elsewhere":
        return show.hosted_plan(result["plan"]) if result.get("hosted") else show.plan(result["plan"])
    if kind == "hosted_job":
        if result.get("repeated"):
            return (
                f"Run {result['run_id']} already has {result['provider']} job {result.get('job_id')} "
                f"({result['status']}); no new job was made."
            )
        return (
            f"Uploaded the files and created {result['provider']} job **{result['job_id']}** as "
            f"**run {result['run_id']}** ({result['status']}). tunechat follows it in the background, also after "
            "a restart. Say **status** for its events and metrics, or **stop** to cancel it."
        )
    if kind == "stop_serving":
        return f"{result['message']}. Say **deploy run {result['run_id']}** to serve it again."
    if kind == "delete_run":
        folder = f" (its folder `{result['deleted_folder']}` and its record)" if result.get("deleted_folder") else ""
        return f"Deleted **run {result['run_id']}**{folder}. Say **list runs** to see the others."
    if kind == "delete_dataset" and result.get("kept_for_other_chats"):
        return f"{result['message']}, so its files stay."
    if kind == "delete_dataset":
        text = f"Deleted `{result['deleted']}` from the workspace."
        used = result.get("used_by_runs") or []
        if used:
            runs = ", ".join(str(run_id) for run_id in used)
            many = len(used) > 1
            text += f" Run{'s' if many else ''} {runs} trained on it and keep{'' if many else 's'} "
            text += f"{'their' if many else 'its'} own data splits, model and evaluation."
        return text
    summary = result.get("message") or result.get("plan") or kind
    return f"Done: {summary}."
