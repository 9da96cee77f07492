"""OpenAI, honestly: a refusal because the organisation may no longer fine-tune, and deprecated models, both
against the loopback OpenAI server (tests/fake_openai_ft.py) with the official client."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fake_openai_ft import FakeFineTuning
from toy_data import make_reviews

from agent.assistant import Assistant
from agent.confirmations import answer_pending
from agent.suggestions import suggest_next
from tools.context import ToolContext
from tools.hosted_tools import confirm_hosted_job, elsewhere_choices, offer_elsewhere
from tools.pending import pending_action
from tools.run_tools import start_training
from trainer.backends import registry
from trainer.backends.base import HostedBackend, HostedClosed
from trainer.backends.openai import job as ft_job
from trainer.backends.openai import models
from trainer.backends.registry import all_backends, backend_of, get_backend, hosted_backends
from ui.render import MARKDOWN


def _reviews(tmp_path: Path, n: int = 60) -> Path:
    path = tmp_path / "reviews.tsv"
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for t, y in make_reviews(n)), encoding="utf-8")
    return path


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".")
    assert message.count(". ") == 0, message


@pytest.mark.slow
def test_refusal_says_so_once_fails_the_run_and_offers_the_same_plan_elsewhere(
    fake: FakeFineTuning, tmp_path: Path
) -> None:
    fake.closed = True
    assistant = Assistant(presenter=MARKDOWN)
    assistant.chat_model = None  # guided mode
    session = assistant.new_session()
    assistant.reply(session, "fine-tune gpt-4.1-mini on this, 2 epochs", files=[_reviews(tmp_path)])
    reply = assistant.reply(session, "go")

    # One sentence says why, then the offer; the run failed with that reason; one create, no job, no retry.
    refusal = reply.text.split("\n\n")[0]
    _one_sentence(refusal)
    assert "training_not_available" in refusal and "2027-01-06" in refusal and "2026-05-07" in refusal
    ctx = assistant.context(session)
    run = ctx.registry.list_runs()[-1]
    assert run["status"] == "failed" and "training_not_available" in run["error"]
    assert fake.create_calls == 1 and fake.jobs == {} and fake.count("POST", "/v1/fine_tuning/jobs") == 1
    assert backend_of(run).diagnose(run)["cause"] == "openai_closed"

    # The other places come from the backend registry, whatever is registered there; they are the buttons.
    others = [f"run it on {b.name}" for b in hosted_backends() if b.name != "openai"]
    assert [c["reply"] for c in elsewhere_choices(get_backend("openai"))] == [*others, "train it locally"]
    assert reply.options[: len(others) + 1] == [*others, "train it locally"][:4]
    waiting = pending_action(ctx)
    assert waiting is not None and waiting["kind"] == "hosted_elsewhere"
    assert waiting["arguments"]["settings"]["n_epochs"] == 2

    # Saying yes again to the refused plan (the CLI path) asks OpenAI nothing more.
    with pytest.raises(HostedClosed):
        ft_job.confirm_plan(
            ctx.workspace, ctx.registry, ft_job.read_record(ctx.workspace.run_dir(run["id"]))["plan_id"]
        )
    assert fake.create_calls == 1

    # Picking "train it locally" plans the same file and settings on this machine; nothing starts before a yes.
    reply = assistant.reply(session, "train it locally")
    waiting = pending_action(ctx)
    assert waiting is not None and waiting["kind"] == "train"
    assert waiting["arguments"]["config"]["backend"] == "local" and waiting["arguments"]["config"]["epochs"] == 2
    assert Path(waiting["arguments"]["config"]["data"]).name == "reviews.tsv"
    assert len(ctx.registry.list_runs()) == 1 and fake.create_calls == 1


def test_the_default_model_is_one_openai_still_fine_tunes_and_the_plan_says_until_when(
    fake: FakeFineTuning, tmp_path: Path
) -> None:
    backend = get_backend("openai")
    assert backend.default_model == "gpt-4.1-mini-2025-04-14"
    ctx = ToolContext.from_env(session_id="s1")
    name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
    plan = start_training(ctx, name, backend="openai")
    assert plan["model"] == backend.default_model and plan["price_per_million_tokens"] == 5.0
    notes = " ".join(plan["notes"])
    assert "shuts it down on 2027-01-14 (OpenAI's deprecations page)" in notes
    assert "2027-01-06" in notes and "no OpenAI model stays fine-tunable" in notes
    assert fake.requests == []  # the plan sends nothing
    after = models.model_notes(ctx.workspace, "gpt-4o-mini", today=dt.date(2027, 1, 7))
    assert "stopped self-serve fine-tuning for everyone on 2027-01-06" in after[-1]


def test_a_deprecated_model_is_warned_with_the_models_endpoint_date(fake: FakeFineTuning, tmp_path: Path) -> None:
    fake.models = {"gpt-4o-mini": "2027-01-14", "gpt-4o-mini-2024-07-18": "2027-01-13", "gpt-4.1": "2026-11-01"}
    ctx = ToolContext.from_env(session_id="s1")
    name = ctx.workspace.import_file(_reviews(tmp_path), session_id=ctx.session_id).name
    plan = start_training(ctx, name, model="gpt-4o-mini-2024-07-18")
    assert "shuts it down on 2027-01-14 (OpenAI's deprecations page)" in " ".join(plan["notes"])

    # After the yes, before any upload, the models endpoint is asked; its date is kept for later plans.
    ft_job.confirm_plan(ctx.workspace, ctx.registry, plan["plan_id"], follow=False)
    assert fake.requests.index(("GET", "/v1/models/gpt-4o-mini-2024-07-18")) < fake.requests.index(
        ("POST", "/v1/files")
    )
    again = start_training(ctx, name, model="gpt-4o-mini-2024-07-18", epochs=1)
    assert "shuts it down on 2027-01-13 (OpenAI's models endpoint)" in " ".join(again["notes"])

    # A model the endpoint says is already shut down is refused in one sentence before anything is uploaded.
    uploads = fake.count("POST", "/v1/files")
    gone = start_training(ctx, name, model="gpt-4.1", epochs=1)
    with pytest.raises(Exception) as caught:
        ft_job.confirm_plan(ctx.workspace, ctx.registry, gone["plan_id"], follow=False)
    _one_sentence(str(caught.value))
    assert "2026-11-01" in str(caught.value) and fake.count("POST", "/v1/files") == uploads


def test_the_command_line_prints_the_refusal_in_one_sentence(fake: FakeFineTuning, tmp_path: Path) -> None:
    fake.closed = True
    ctx = ToolContext.from_env(session_id=None)
    name = ctx.workspace.import_file(_reviews(tmp_path)).name
    plan = start_training(ctx, name, backend="openai")
    with pytest.raises(HostedClosed) as caught:
        confirm_hosted_job(ctx, plan["plan_id"])
    _one_sentence(str(caught.value))
    assert "training_not_available" in str(caught.value) and fake.create_calls == 1 and fake.jobs == {}


class _OtherHost(HostedBackend):
    """A second hosted backend, registered for one test: what the offer finds in the registry."""

    name, title, provider, default_model = "otherhost", "the Other Host API", "Other Host", "other-7b"

    def __init__(self) -> None:
        self.planned: list[tuple[str | None, dict[str, object]]] = []

    def owns_model(self, model: str | None) -> bool:
        return model == self.default_model

    def named_in(self, message: str) -> bool:
        return False

    def model_in(self, message: str) -> str | None:
        return None

    def plan(self, ws: Any, path: Path, model: str | None, settings: dict[str, Any]) -> dict[str, Any]:
        self.planned.append((model, settings))
        return {"plan_id": "other-1", "model": self.default_model, "file": path.name, "task": "sft"}

    def owns_plan(self, ws: Any, plan_id: str) -> bool:
        return plan_id == "other-1"

    def confirm(self, ws: Any, registry: Any, plan_id: str, session_id: str | None = None) -> dict[str, Any]:
        raise AssertionError("nothing may start before the user's yes to this backend's own plan")

    def status(self, ws: Any, registry: Any, run_id: int) -> Any:
        raise NotImplementedError

    def stop(self, ws: Any, registry: Any, run_id: int, grace_s: float | None = None) -> Any:
        raise NotImplementedError


def test_another_registered_hosted_backend_is_offered_and_picking_it_plans_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _OtherHost()
    all_backends()
    monkeypatch.setitem(registry._backends, other.name, other)
    ctx = ToolContext.from_env(session_id="s1")
    name = ctx.workspace.import_file(_reviews(tmp_path), session_id="s1").name
    refused = HostedClosed("OpenAI no longer lets this organisation create fine-tuning jobs; run it elsewhere.")
    done = offer_elsewhere(ctx, get_backend("openai"), {"file": name, "settings": {"n_epochs": 2}}, refused)
    # Every other hosted backend of the registry, in its order (the added one last), then this machine.
    offered = ["run it on together", "run it on otherhost", "train it locally"]
    assert done["choices"] == offered
    assert suggest_next(ctx, {})[:4] == [*offered, "no"]

    reply = answer_pending(ctx, "Run it on otherhost", MARKDOWN)
    assert reply is not None
    assert [(model, settings["n_epochs"]) for model, settings in other.planned] == [(None, 2)]
    waiting = pending_action(ctx)
    assert waiting is not None and waiting["kind"] == "hosted_job"
    assert waiting["arguments"]["backend"] == "otherhost" and waiting["arguments"]["plan_id"] == "other-1"
