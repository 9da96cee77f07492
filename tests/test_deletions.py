"""Deleting a run or a dataset waits for the user's own yes, whatever the model says; refusals name the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from drivers import ScriptedDriver
from run_records import make_run

from agent.assistant import Assistant
from tools.pending import pending_action
from ui.render import MARKDOWN


def test_delete_run_is_refused_while_running_and_removes_folder_and_row_after_yes(
    reviews_tsv: Path,
    trained_model: Path,
) -> None:
    driver = ScriptedDriver()
    assistant = Assistant(chat_model=driver.model, presenter=MARKDOWN)
    running = make_run(assistant, None, status="running")
    done = make_run(assistant, trained_model)
    session = assistant.new_session()

    driver.call("delete_run", run_id=running)
    driver.say("It is still running.")
    reply = assistant.reply(session, f"delete run {running}")
    assert reply.steps[0].ok is False
    assert (
        reply.steps[0].summary == f"Run {running} is running; stop it first (say 'stop run {running}'), then delete it."
    )
    assert pending_action(assistant.context(session)) is None and "Waiting for your yes" not in reply.text
    assert assistant.workspace.run_dir(running).is_dir()

    driver.call("delete_run", run_id=done)
    driver.say("Deleted.")  # the model's claim changes nothing
    reply = assistant.reply(session, f"delete run {done}")
    assert (
        f"**Waiting for your yes:** Delete run {done} (succeeded, text-classification, all-MiniLM-L6-v2): its folder "
        in reply.text
    )
    assert assistant.workspace.run_dir(done).is_dir() and assistant.registry.get_run(done)

    asked = driver.requests()
    reply = assistant.reply(session, "Yes.")
    assert driver.requests() == asked
    assert (
        reply.text
        == f"Deleted **run {done}** (its folder `runs/run-{done}` and its record). Say **list runs** to see the others."
    )
    assert not assistant.workspace.run_dir(done).exists()
    assert [run["id"] for run in assistant.registry.list_runs()] == [running]
    # AUTOINCREMENT: a new run never gets the deleted run's id (or its folder).
    assert make_run(assistant, None) == done + 1


def test_delete_dataset_names_the_runs_that_used_it_and_stays_inside_the_workspace(reviews_tsv: Path) -> None:
    driver = ScriptedDriver()
    assistant = Assistant(chat_model=driver.model, presenter=MARKDOWN)
    session = assistant.new_session()
    driver.say("Got your file.")
    assistant.reply(session, "here is my data", files=[reviews_tsv])
    upload = assistant.workspace.resolve("reviews.tsv", session_id=session)
    user = make_run(assistant, None, status="running", data=str(upload))

    driver.call("delete_dataset", dataset="reviews.tsv")
    driver.say("A run is using it.")
    reply = assistant.reply(session, "delete reviews.tsv")
    assert reply.steps[0].summary.startswith(f"Run {user} is still training on uploads/")
    assert upload.is_file() and pending_action(assistant.context(session)) is None

    # Outside the workspace, the database, a run folder: refused, nothing proposed.
    for name in ("../tunechat.db", "tunechat.db", f"runs/run-{user}", "/etc/hostname", "datasets"):
        driver.call("delete_dataset", dataset=name)
    driver.say("I cannot delete those.")
    reply = assistant.reply(session, "delete these")
    assert [step.ok for step in reply.steps] == [False] * 5
    assert pending_action(assistant.context(session)) is None
    assert assistant.workspace.db_path.is_file() and assistant.workspace.run_dir(user).is_dir()

    assistant.registry.update_run(user, status="succeeded")
    driver.call("delete_dataset", dataset="reviews.tsv")
    driver.say("Shall I?")
    reply = assistant.reply(session, "delete reviews.tsv")
    relative = upload.relative_to(assistant.workspace.root).as_posix()
    assert f"**Waiting for your yes:** Delete the uploaded file {relative} (used by run {user}," in reply.text
    assert upload.is_file()
    reply = assistant.reply(session, "ok")
    assert reply.text == (
        f"Deleted `{relative}` from the workspace. Run {user} trained on it and keeps its own data splits, model and "
        "evaluation."
    )
    assert not upload.exists() and assistant.registry.get_run(user)["status"] == "succeeded"


def test_guided_mode_deletes_a_prepared_dataset_only_after_yes(reviews_tsv: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)  # guided mode: no model at all
    session = assistant.new_session()
    assistant.reply(session, "inspect this", files=[reviews_tsv])
    prepared = assistant.reply(session, "remove duplicates").steps[0].result
    folder = assistant.workspace.root / prepared["folder"]
    assert folder.is_dir()

    reply = assistant.reply(session, f"delete dataset {prepared['folder']}")
    assert f"**Waiting for your yes:** Delete the prepared dataset folder {prepared['folder']}" in reply.text
    assert folder.is_dir()
    assert assistant.reply(session, "no").text.startswith("Dropped the plan (Delete the prepared dataset folder")
    assert folder.is_dir()
    # Without a waiting plan, "no" is harmless and "yes" means what it meant before (start the training plan).
    assert "Nothing is waiting for your answer" in assistant.reply(session, "no").text
    assert folder.is_dir()

    assistant.reply(session, f"delete dataset {prepared['folder']}")
    assert assistant.reply(session, "yes").text == f"Deleted `{prepared['folder']}` from the workspace."
    assert not folder.exists() and (assistant.workspace.root / "datasets").is_dir()


def test_a_prepared_dataset_two_chats_share_stays_until_the_last_one_deletes_it(reviews_tsv: Path) -> None:
    from tools.session_files import resolve_file
    from trainer.core.errors import UserError

    assistant = Assistant(presenter=MARKDOWN)
    first, second = assistant.new_session(), assistant.new_session()
    prepared = []
    for session in (first, second):
        assistant.reply(session, "inspect this", files=[reviews_tsv])
        prepared.append(assistant.reply(session, "remove duplicates").steps[0].result)
    # The same content makes the same folder (named by its hash): both chats hold it.
    assert prepared[0]["folder"] == prepared[1]["folder"]
    name, data_file = prepared[0]["folder"], prepared[0]["data_file"]
    folder = assistant.workspace.root / name

    reply = assistant.reply(first, f"delete dataset {name}")
    assert (
        f"**Waiting for your yes:** Remove the prepared dataset folder {name} from this chat (1 other chat also uses "
        "it, so its files stay)" in reply.text
    )
    removed = assistant.reply(first, "yes").text
    assert removed == f"Removed {name} from this chat; 1 other chat still uses it, so its files stay."
    assert folder.is_dir() and assistant.registry.file_owners(name) == [second]
    with pytest.raises(UserError, match="There is no file"):
        resolve_file(assistant.context(first), data_file)
    assert resolve_file(assistant.context(second), data_file).is_file()

    reply = assistant.reply(second, f"delete dataset {name}")
    assert f"**Waiting for your yes:** Delete the prepared dataset folder {name}" in reply.text
    assert assistant.reply(second, "yes").text == f"Deleted `{name}` from the workspace."
    assert not folder.exists() and assistant.registry.file_owners(name) == []
