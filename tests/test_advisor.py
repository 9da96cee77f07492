"""The method advisor: a plain description of a goal gives the task, model family and method, and why; a 1-5
rating asks which way; data that disagrees with the goal is told in one sentence with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.assistant import Assistant
from trainer.models.catalog import is_known
from trainer.plan import meaning
from trainer.plan.advisor import advise, describes_goal
from trainer.tasks.registry import all_tasks
from ui.render import MARKDOWN

TEXT_MODEL, CHAT_MODEL = "all-MiniLM-L6-v2", "smollm2"

# description -> (task, the goal's title, default model, method); every built-in kind of task at least once.
# Decided by cue words alone (the tests below make comparing meanings fail, so no model loads).
CASES = {
    "flag support tickets as urgent": ("text-classification", "text classification", TEXT_MODEL, "full"),
    "build a spam detector": ("text-classification", "text classification", TEXT_MODEL, "full"),
    "are these two questions duplicates": ("text-classification", "text-pair classification", TEXT_MODEL, "full"),
    "estimate the price of a flat from its listing": ("text-regression", "text regression", TEXT_MODEL, "full"),
    "make the model answer in our house style": ("sft", "chat fine-tuning (SFT)", CHAT_MODEL, "lora"),
    "a chatbot that answers from our FAQ": ("sft", "chat fine-tuning (SFT)", CHAT_MODEL, "lora"),
    "it should prefer the polite answer": ("dpo", "preference tuning (DPO)", CHAT_MODEL, "lora"),
    "we have thumbs up/down feedback on the bot's replies": (
        "kto",
        "preference tuning on answers marked good or bad (KTO)",
        CHAT_MODEL,
        "lora",
    ),
    "spot defects in product photos from the camera": (
        "image-classification",
        "image classification",
        "efficientnet-lite0",
        "full",
    ),
    "tell birds apart from their song recordings": (
        "audio-classification",
        "audio classification",
        "whisper-base",
        "full",
    ),
}
# Cue words that do not decide alone (or none at all): the bundled MiniLM compares meanings with each goal's examples.
BY_MEANING = {
    "spot defects in product photos": "image-classification",
    "recognise machine sounds": "audio-classification",
    "route each customer email to the right department": "text-classification",
    "predict the price of a flat from its listing": "text-regression",
    "our agents should sound friendlier": "sft",
    "tell which emails are junk": "text-classification",
    "work out what a house will sell for": "text-regression",
    "find cracked welds in the inspection shots": "image-classification",
    "know when a pump is about to break from how it hums": "audio-classification",
}


def cues_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Comparing meanings fails: what passes was decided by cue words, without loading MiniLM."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compared meanings")

    monkeypatch.setattr(meaning, "nearest", refuse)


@pytest.mark.parametrize("description", list(CASES))
def test_a_described_goal_gets_its_task_model_and_method(description: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    task, title, model, method = CASES[description]
    advice = advise(description)
    assert (advice.task, advice.title, advice.model, advice.method) == (task, title, model, method)
    assert advice.why and advice.family and advice.model_description
    assert advice.evidence.startswith("the words") and advice.from_goal
    assert not advice.question and not advice.choices


def test_a_rating_on_a_small_scale_asks_number_or_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    advice = advise("rate how positive a review is from 1 to 5")
    assert advice.task == "text-regression" and "number" in advice.question and "classes" in advice.question
    assert advice.choices == ["treat it as regression", "treat it as text classification"]
    assert [a["task"] for a in advice.alternatives] == ["text-classification"]
    shown = MARKDOWN.advice(advice.to_dict())
    assert "**treat it as regression**" in shown and "**treat it as text classification**" in shown


def test_only_the_words_of_a_goal_make_guided_mode_advise() -> None:
    assert describes_goal("build a spam detector from this file")
    assert describes_goal("I want to spot defects in product photos")
    # A task named outright, or settings, are not a goal to advise on.
    assert not describes_goal("fine-tune a sentiment classifier on this")
    assert not describes_goal("use 6 epochs and learning rate 1e-2")
    assert not describes_goal("fine-tune on this")


def test_every_built_in_task_says_what_it_is_for_with_a_model_of_the_catalog() -> None:
    for task in all_tasks():
        assert task.purposes, f"{task.name} says nothing about what it is for"
        for purpose in task.purposes:
            assert is_known(purpose.model) and purpose.why and purpose.data and purpose.cues


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_free_text_labels_disagree_with_a_classifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    rows = [
        f"How do I reset password number {i}?,Open settings then choose reset and follow step {i}" for i in range(12)
    ]
    data = write(tmp_path / "faq.csv", "text,label\n" + "\n".join(rows) + "\n")
    advice = advise("flag support tickets as urgent", data)
    assert advice.task == "text-classification" and advice.file == "faq.csv"
    assert "'label'" in advice.data_note and "free text" in advice.data_note
    assert "rename the two columns prompt and completion" in advice.data_note and advice.data_note.count(". ") == 0
    assert advice.use_kind is None


def test_an_image_goal_on_a_file_without_images_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    data = write(tmp_path / "notes.csv", "text,label\n" + "".join(f"note {i} about a part,ok\n" for i in range(6)))
    advice = advise("spot defects in product photos from the camera", data)
    assert advice.task == "image-classification"
    assert advice.data_note.startswith("'notes.csv' has no column of image files")
    assert "one subfolder of images per class" in advice.data_note


def test_data_of_another_kind_names_what_it_would_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    rows = [f"How do I reset password {i}?,Open settings and choose reset {i}" for i in range(8)]
    data = write(tmp_path / "faq.csv", "prompt,completion\n" + "\n".join(rows) + "\n")
    note = advise("flag support tickets as urgent", data).data_note
    assert note.startswith("'faq.csv' holds prompt/completion pairs, but text classification needs")
    assert note.endswith("say **fine-tune on this** for chat fine-tuning (SFT) on what it holds.")


def test_numbers_for_categories_are_pointed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    rows = [f"ticket {i} about the printer being slow again,{i % 3 + 1}" for i in range(15)]
    data = write(tmp_path / "tickets.csv", "text,label\n" + "\n".join(rows) + "\n")
    advice = advise("sort the tickets into categories", data)
    assert advice.task == "text-classification"
    assert "holds numbers (1, 2, 3" in advice.data_note and "treat it as regression" in advice.data_note


def test_agreeing_data_has_no_note_and_a_score_is_a_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    rows = [f"cheap pills click here {i},spam" if i % 2 else f"meeting moved to {i} pm,ham" for i in range(12)]
    advice = advise("build a spam detector", write(tmp_path / "mail.csv", "text,label\n" + "\n".join(rows) + "\n"))
    assert advice.data_note == "" and advice.use_kind is None
    rows = [f"two bedroom flat near the station number {i},{100 + i % 4}" for i in range(16)]
    flats = write(tmp_path / "flats.csv", "text,price\n" + "\n".join(rows) + "\n")
    advice = advise("estimate the price of a flat from its listing", flats)
    assert advice.data_note == "" and advice.use_kind == "regression"


@pytest.mark.slow  # inspects in a child process and plans: about 3 s
def test_guided_mode_advises_then_plans_with_that_task(tmp_path: Path) -> None:
    rows = [f"cheap pills click here {i},spam" if i % 2 else f"meeting moved to {i} pm,ham" for i in range(40)]
    data = write(tmp_path / "mail.csv", "text,label\n" + "\n".join(rows) + "\n")
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "build a spam detector from this file", files=[data])
    assert "**Method:** text classification" in reply.text and "**Why:**" in reply.text
    assert [step.name for step in reply.steps] == ["advise_method", "inspect_data", "propose_plan"]
    assert "**Plan**" in reply.text


def test_guided_mode_asks_which_way_with_both_as_options(monkeypatch: pytest.MonkeyPatch) -> None:
    cues_only(monkeypatch)
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "I want to rate how positive a review is from 1 to 5")
    assert "Which do you want?" in reply.text and "Upload your data" in reply.text
    assert reply.options == ["treat it as regression", "treat it as text classification"]
    reply = assistant.reply(session, "I want to spot defects in product photos from the camera")
    assert "**Method:** image classification" in reply.text and "`efficientnet-lite0`" in reply.text


@pytest.mark.slow  # loads the bundled MiniLM (about 5 s idle, 25 s on a loaded machine)
def test_descriptions_cues_do_not_decide_are_matched_by_meaning() -> None:
    for description, task in BY_MEANING.items():
        advice = advise(description)
        assert advice.task == task and not advice.question, (description, advice.task, advice.question)
        assert "its meaning, closest to" in advice.evidence
    assert not advise("score essays from 0 to 100").question  # a score out of 100 is a number: no question
    unsure = advise("blah")
    assert unsure.question.startswith("I cannot tell") and not unsure.choices
    assert MARKDOWN.advice(unsure.to_dict()) == unsure.question
