"""Guided mode: the assistant without an LLM. It understands the common intents in plain words
(see agent.intents), calls the same tools an LLM would, and answers with rendered results.
"""

from __future__ import annotations

import os
import time
from typing import Any

from agent.advising import advise_goal
from agent.ask import question
from agent.confirmations import is_no
from agent.guided_text import HELP, LLM_NOTICE, PREPARE_HINT
from agent.images import result_images
from agent.intents import Intent, classify, classify_by_rules
from agent.types import EventSink, Presenter, Reply, ToolStep, TurnEvent, ignore_events
from tools.context import ToolContext
from tools.launch import TRAIN
from tools.pending import pending_action
from tools.registry import TOOLS_BY_NAME
from tools.session_files import resolve_file
from trainer.backends.base import HostedBackend
from trainer.backends.registry import get_backend
from trainer.core.errors import UserError
from trainer.core.records import plain
from trainer.data.placeholders import unfilled_sentence
from trainer.data.task_choice import normalize_task
from trainer.plan.advisor import describes_goal
from trainer.tasks.base import Task
from trainer.tasks.registry import detect_kind, task_for_kind


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items())
    text = str(value)
    return text.rstrip("/").rsplit("/", 1)[-1] if "/" in text else text


def guided_reply(
    ctx: ToolContext,
    state: dict[str, Any],
    message: str,
    uploaded: list[str],
    show: Presenter,
    on_event: EventSink = ignore_events,
) -> Reply:
    if not uploaded and is_no(message) and classify_by_rules(message).name == "unknown":  # never read for meaning
        return Reply(text="OK. Nothing is waiting for your answer right now; say **help** for what I can do.")
    by_rules = classify_by_rules(message)
    # A goal in plain words ("spot defects in photos") is a request to train, before meaning reads "1 to 5" as a run.
    goal = by_rules.name == "unknown" and describes_goal(message)
    intent = Intent("train", by_rules.settings) if goal else classify(message)
    if intent.name in ("unknown", "ask") and uploaded:  # unclear words beside a new file: look at the file
        intent = Intent("inspect")
    session = GuidedTurn(ctx, state, show, on_event)
    session.message = message
    try:
        text = session.handle(intent)
    except UserError as error:
        text = str(error)
    if not state.get("llm_notice_shown") and not os.environ.get("OPENAI_API_KEY"):  # set: guided on purpose
        state["llm_notice_shown"] = True
        text += "\n\n" + LLM_NOTICE
    return Reply(text=text, images=session.images, steps=session.steps, options=session.options)


class GuidedTurn:
    """One message's worth of work: calls tools, remembers the steps and images for the reply."""

    def __init__(self, ctx: ToolContext, state: dict[str, Any], show: Presenter, on_event: EventSink = ignore_events):
        self.ctx, self.state, self.show = ctx, state, show
        self.message = ""  # the user's words, for the method advisor
        self.on_event = on_event
        self.steps: list[ToolStep] = []
        self.images: list[str] = []
        self.options: list[str] = []  # the buttons of a question; empty: the usual suggestions

    def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        step_id = f"step-{len(self.steps)}"
        self.on_event(TurnEvent("step_started", step_id=step_id, name=name, arguments=arguments))
        started = time.perf_counter()
        try:
            result = plain(TOOLS_BY_NAME[name](self.ctx, **arguments))
        except UserError as error:
            self.record(step_id, ToolStep(name, arguments, False, str(error), time.perf_counter() - started))
            raise
        self.record(step_id, ToolStep(name, arguments, True, "done", time.perf_counter() - started, result))
        self.images += result_images(name, result, self.ctx.workspace)
        return result

    def record(self, step_id: str, step: ToolStep) -> None:
        """Keep a finished step for the reply and tell the UI it is done."""
        self.steps.append(step)
        self.on_event(TurnEvent("step_finished", step_id=step_id, name=step.name, step=step))

    def handle(self, intent: Intent) -> str:
        handler = getattr(self, f"on_{intent.name}")
        return str(handler(intent))

    # ---- intents ----------------------------------------------------------------------------

    def on_help(self, intent: Intent) -> str:
        return HELP

    def on_unknown(self, intent: Intent) -> str:
        return "I did not catch that. " + HELP

    def on_ask(self, intent: Intent) -> str:
        """Two intents about as likely: one short question, both as buttons, rather than a guess."""
        text, self.options = question(intent.choices, intent.run_ids)
        return text

    def active_file(self) -> str:
        file = self.state.get("active_file")
        if not file:
            raise UserError("Upload a CSV, TSV or JSONL file of labelled texts first (drop it into the chat).")
        return str(file)

    def columns(self) -> dict[str, Any]:
        overrides = self.state.get("overrides", {})
        return {key: overrides.get(key) for key in ("text_column", "label_column")}

    def on_inspect(self, intent: Intent) -> str:
        self.state.setdefault("overrides", {}).update(
            {k: v for k, v in intent.settings.items() if k in ("text_column", "label_column")}
        )
        if intent.settings.get("data_task"):  # "treat it as regression"
            self.state["data_task"] = intent.settings["data_task"]
        task = {"task": self.state["data_task"]} if self.state.get("data_task") else {}
        report = self.call("inspect_data", file=self.active_file(), **self.columns(), **task)
        trains = task_for_kind(report.get("task"))
        hint = trains.inspect_hint if trains is not None and trains.inspect_hint else PREPARE_HINT
        return self.show.inspection(report) + "\n\n" + hint

    def on_prepare(self, intent: Intent) -> str:
        """ "clean it up", "remove duplicates", "convert it to chat format", "split it": a new prepared dataset."""
        options: dict[str, Any] = {k: intent.settings[k] for k in ("dedupe", "split", "to") if k in intent.settings}
        if self.state.get("data_task"):
            options["task"] = self.state["data_task"]
        source = self.active_file()
        result = self.call("prepare_data", file=source, **self.columns(), **options)
        text = self.show.prepared(result)
        if len(result.get("files", {})) == 1:
            # One prepared file: later requests ("fine-tune on this") use it instead of the raw upload.
            self.state["active_file"] = result["data_file"]
            text += f"\n\nFrom now on I use `{result['data_file']}`; `{source}` stays as you uploaded it."
        return text

    def chosen_task(self) -> Task | None:
        """The task of the data kind the user named ("treat it as regression"), None when they named none."""
        word = self.state.get("data_task")
        return task_for_kind(normalize_task(str(word))) if word else None

    def on_train(self, intent: Intent) -> str:
        if describes_goal(self.message):  # "build a spam detector from this file": the method first, and why
            text, go_on = advise_goal(self.call, self.show, self.state, self.message)
            return text + "\n\n" + self.planned(intent) if go_on else text
        return self.planned(intent)

    def planned(self, intent: Intent) -> str:
        trains = self.chosen_task() or task_for_kind(detect_kind(resolve_file(self.ctx, self.active_file())))
        if trains is not None and not trains.columns_from_inspection:
            return self.on_settings(intent)  # e.g. chats or preference pairs: no column inspection before the plan
        task = {"task": self.state["data_task"]} if self.state.get("data_task") else {}
        report = self.call("inspect_data", file=self.active_file(), **self.columns(), **task)
        return self.show.inspection(report) + "\n\n" + self.on_settings(intent)

    def on_settings(self, intent: Intent, starting: bool = False) -> str:
        overrides = self.state.setdefault("overrides", {})
        given = {**overrides.get("placeholders", {}), **intent.settings.get("placeholders", {})}
        overrides.update(intent.settings)
        if given:  # "name Nova", then "author Acme": both values stay
            overrides["placeholders"] = given
        if "backend" not in intent.settings and ("model" in intent.settings or intent.name == "train"):
            # A local model, or "fine-tune a classifier on this" without naming a provider, means training here.
            if overrides.pop("backend", None) and "model" not in intent.settings:
                overrides.pop("model", None)
        if overrides.get("backend"):  # only a hosted provider is ever named: see agent/intents.py
            return self.hosted_plan()
        overrides = {k: v for k, v in overrides.items() if k != "backend"}
        chosen = self.chosen_task()
        if chosen is not None and "task" not in overrides:
            overrides["task"] = chosen.name  # "treat it as regression", then "fine-tune": a regression plan
        plan = self.call("propose_plan", file=self.active_file(), **overrides)
        changed = ", ".join(f"{k.replace('_', ' ')} → {_short(v)}" for k, v in intent.settings.items())
        prefix = f"Updated the plan ({changed}).\n\n" if intent.name == "settings" and changed else ""
        if plan.get("question"):  # e.g. {{name}} and {{author}} in the data without values yet
            if starting:
                raise UserError(unfilled_sentence(plan.get("placeholders_missing") or []))
            return prefix + self.show.plan(plan) + "\n\n" + str(plan["question"])
        return prefix + self.show.plan(plan) + "\n\nSay **go** to start, or change a setting (e.g. *use 5 epochs*)."

    def on_dry_run(self, intent: Intent) -> str:
        """ "do a dry run first": try the waiting plan (made now if none waits); it needs no yes, starts nothing."""
        prefix = ""
        if pending_action(self.ctx, TRAIN) is None:
            prefix = self.on_settings(Intent("train", intent.settings)) + "\n\n"
        return prefix + self.show.dry_run(self.call("dry_run"))

    def on_go(self, intent: Intent) -> str:
        """ "go" with no plan waiting (a waiting plan is started by tunechat's code before this): plan again."""
        if self.state.get("active_file"):
            return self.on_settings(Intent("train"), starting=True)
        raise UserError("There is no plan to start yet; upload a data file and say 'fine-tune a classifier on this'.")

    def on_status(self, intent: Intent) -> str:
        status = self.call("run_status", run_id=intent.run_ids[0] if intent.run_ids else None)
        text = self.show.status(status)
        if get_backend(status.get("backend")).hosted:
            shown = self.state.setdefault("events_shown", {})
            key = str(status["run_id"])
            text += self.show.hosted_progress(status, since=int(shown.get(key, 0)))
            shown[key] = len(status.get("events") or [])
        if status.get("status") == "succeeded":
            text += "\n\n" + self.on_evaluate(Intent("evaluate", run_ids=[status["run_id"]]))
        return text

    def on_stop(self, intent: Intent) -> str:
        status = self.call("stop_run", run_id=intent.run_ids[0] if intent.run_ids else None)
        if status.get("needs_confirmation"):  # another chat's run: it stops on this user's yes
            return f"Run {status['arguments']['run_id']} was started by another chat; nothing is stopped yet."
        backend = get_backend(status.get("backend"))
        if isinstance(backend, HostedBackend):
            return self.show.status(status) + f" The {backend.provider} job {status.get('job_id') or ''} was cancelled."
        return self.show.status(status) + " Its checkpoints stay in the run folder."

    def on_evaluate(self, intent: Intent) -> str:
        evaluation = self.call("evaluate_run", run_id=intent.run_ids[0] if intent.run_ids else None)
        return self.show.evaluation(evaluation)

    def on_compare(self, intent: Intent) -> str:
        ids = intent.run_ids
        if len(ids) < 2:
            runs = self.ctx.registry.list_runs()
            ids = [run["id"] for run in runs[-2:]]
            if len(ids) < 2:
                raise UserError(
                    "Comparing needs two runs; train another one first, then say 'compare run 1 and run 2'."
                )
        return self.show.comparison(self.call("compare_runs", run_ids=ids))

    def on_explain(self, intent: Intent) -> str:
        """ "why did run 2 beat run 1?": the explanation, and its next run as the plan that waits for the yes."""
        ids = intent.run_ids[:2] or None
        return self.show.explanation(self.call("explain_comparison", run_ids=ids))

    def on_deploy(self, intent: Intent) -> str:
        deployment = self.call("deploy_run", run_id=intent.run_ids[0] if intent.run_ids else None)
        if not deployment.get("needs_confirmation"):
            return self.show.deployment(deployment)  # already served: shown as it is
        return f"Run {deployment['arguments']['run_id']} can be deployed; nothing runs yet."

    def on_undeploy(self, intent: Intent) -> str:
        """ "stop serving run 2": a plan that waits for the yes (the newest deployed run when none is named)."""
        plan = self.call("stop_serving", run_id=intent.run_ids[0] if intent.run_ids else None)
        run_id = plan["arguments"]["run_id"]
        return f"Run {run_id}'s server can be stopped; it keeps answering until you say yes."

    def on_delete(self, intent: Intent) -> str:
        """ "delete run 2", "delete dataset reviews.tsv", "delete this file": a plan that waits for the yes."""
        if intent.run_ids:
            self.call("delete_run", run_id=intent.run_ids[0])
            return f"Run {intent.run_ids[0]} can be deleted; nothing is deleted yet."
        if "dataset" not in intent.settings:
            raise UserError("Say which run or data to delete, e.g. 'delete run 2' or 'delete dataset reviews.tsv'.")
        name = intent.settings.get("dataset") or self.active_file()
        self.call("delete_dataset", dataset=name)
        return f"`{name}` can be deleted; nothing is deleted yet."

    def on_export(self, intent: Intent) -> str:
        """ "export run 3 for ollama": a local write checked for parity, no yes needed (a push waits for one)."""
        run_id = intent.run_ids[0] if intent.run_ids else None
        return self.show.export(self.call("export_run", run_id=run_id, **intent.settings))

    def on_list_runs(self, intent: Intent) -> str:
        return self.show.runs(self.call("list_runs")["runs"])

    # ---- a failed run: "why did it fail?", then "fix it" (a plan that starts on the user's yes) ----

    def on_diagnose(self, intent: Intent) -> str:
        diagnosis = self.call("diagnose_run", run_id=intent.run_ids[0] if intent.run_ids else None)
        return self.show.diagnosis(diagnosis)

    def on_relaunch(self, intent: Intent) -> str:
        changes = {key: value for key, value in intent.settings.items() if key != "backend"}
        plan = self.call("relaunch_run", run_id=intent.run_ids[0] if intent.run_ids else None, changes=changes or None)
        if not plan.get("needs_confirmation"):  # a hosted job: a new job plan, started by "go"
            return self.show.hosted_plan(plan) + "\n\nSay **go** to upload the files and start the new job."
        return self.show.relaunch_plan(plan)

    # ---- a language model's evaluation: the forgetting remedy, the LLM judge (plans, carried out on yes) ----

    def on_remedy(self, intent: Intent) -> str:
        plan = self.call("retrain_with_remedy", run_id=intent.run_ids[0] if intent.run_ids else None)
        return self.show.remedy_plan(plan)

    def on_judge(self, intent: Intent) -> str:
        plan = self.call("judge_answers", run_id=intent.run_ids[0] if intent.run_ids else None)
        return f"{plan['plan']}.\n\nNothing has been sent yet. Say **yes** to send the requests, or **no**."

    # ---- earlier runs: "resume the run that crashed", "deploy the best run", "same as last time" ----

    def on_resume(self, intent: Intent) -> str:
        if intent.settings:  # "retry with lr 1e-4": a changed copy, not a resume
            return self.on_rerun_like(intent)
        result = self.call("resume_run", run_id=intent.run_ids[0] if intent.run_ids else None)
        return str(result["message"])

    def on_best_run(self, intent: Intent) -> str:
        found = self.call("find_runs", which="best")
        return self.show.best_run(found)

    def on_deploy_best(self, intent: Intent) -> str:
        found = self.call("find_runs", which="best")
        return self.show.best_run(found) + "\n\n" + self.on_deploy(Intent("deploy", run_ids=[found["run_id"]]))

    def on_rerun_like(self, intent: Intent) -> str:
        changes = {key: value for key, value in intent.settings.items() if key != "backend"}
        plan = self.call("plan_like_run", run_id=intent.run_ids[0] if intent.run_ids else None, changes=changes)
        changed = ", ".join(
            f"{key.replace('_', ' ')} {_short(value['from'])} → {_short(value['to'])}"
            for key, value in plan["changes"].items()
        )
        text = f"A new run like **run {plan['like_run']}**" + (f", changing {changed}." if changed else ", unchanged.")
        if plan.get("estimate_seconds"):
            text += f" Estimated {self.show.seconds(plan['estimate_seconds'])} (run {plan['like_run']}'s time)."
        return text

    # ---- hyperparameter search: "find the best learning rate", "tune the hyperparameters in 15 minutes" ----

    def on_search(self, intent: Intent) -> str:
        """A search plan on the chat's data; it waits for the yes (every trial trains)."""
        options = {key: intent.settings[key] for key in ("params", "minutes", "trials") if key in intent.settings}
        task = {"task": self.state["data_task"]} if self.state.get("data_task") else {}
        columns = {key: value for key, value in self.columns().items() if value}
        plan = self.call("plan_search", file=self.active_file(), **options, **columns, **task)
        return self.show.search_plan(plan)

    def on_search_status(self, intent: Intent) -> str:
        return self.show.search(self.call("search_status"))

    def on_search_stop(self, intent: Intent) -> str:
        return self.show.search(self.call("stop_search"))

    def on_search_resume(self, intent: Intent) -> str:
        plan = self.call("resume_search")
        return f"**Plan:** {plan['plan']}. Reply **yes** to continue it, or **no** to leave it."

    # ---- a hosted fine-tuning API --------------------------------------------------------------

    def hosted_plan(self) -> str:
        overrides = self.state.get("overrides", {})
        arguments = {
            key: overrides.get(key)
            for key in ("backend", "model", "epochs", "batch_size", "learning_rate", "method")
            + ("text_column", "label_column", "placeholders")
            if overrides.get(key) is not None
        }
        plan = self.call("start_training", file=self.active_file(), **arguments)
        return (
            self.show.hosted_plan(plan)
            + "\n\nNothing has been uploaded yet. Say **go** to upload the files and start the job, "
            "or change a setting (e.g. *use 2 epochs*)."
        )
