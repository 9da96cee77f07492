"""What the playground shows, without a browser or a model: each side's panel, notes that keep data as text, the
conversation a model reads (without the playground's own lines), and the line that says what a picked model takes."""

from __future__ import annotations

from trainer.serve.play_targets import AUDIO, CHAT, CLASSIFIER, IMAGE, REGRESSION
from trainer.serve.playground import Absent, Answer, Scores
from ui.playground_render import conversation, describe, labels_of, panel, scores_note, shown, with_answer


def test_a_classifier_panel_has_bars_and_a_note_that_keeps_data_as_text() -> None:
    scores = Scores("run 2 (tuned)", [{"label": "*spam*", "score": 0.75}, {"label": "ham", "score": 0.25}], 0.031)
    shown_panel = panel(scores, CLASSIFIER)
    assert shown_panel.labels == labels_of(scores) == {"*spam*": 0.75, "ham": 0.25}
    assert shown_panel.chat is None
    assert shown_panel.note == "**\\*spam\\*** (75.0%) · run 2 (tuned), 0.03 s"
    number = Scores("run 3 (tuned)", [], 0.5, 4.6123, "<b>stars</b>")
    assert scores_note(number) == "Predicted stars: **4.612** · run 3 (tuned), 0.50 s"  # no HTML from data
    assert panel(number, REGRESSION).labels is None


def test_a_side_without_an_answer_says_why_and_keeps_its_conversation() -> None:
    absent = Absent("base model minilm", "There is no base text classifier to compare: [link](http://x)")
    assert panel(absent, CLASSIFIER).labels == {}
    assert panel(absent, CLASSIFIER).note == "ℹ️ There is no base text classifier to compare: \\[link\\](http://x)"
    history = [{"role": "user", "content": "hi"}]
    assert panel(absent, CHAT, history).chat == history
    assert panel(None, CHAT) == panel(None, IMAGE)  # nothing yet: nothing changes


def test_a_model_reads_its_own_words_and_the_panel_adds_who_said_them() -> None:
    history = [{"role": "user", "content": "who are you?"}]
    answer = Answer("run 1 (tuned)", "I am **Nova**.", False, 1.25)
    after = with_answer(history, answer)
    assert conversation(after) == [*history, {"role": "assistant", "content": "I am **Nova**."}]
    assert shown(after)[1] == {
        "role": "assistant",
        "content": "I am **Nova**.\n\n— run 1 (tuned), 1.2 s (cut at the token limit)",
    }
    assert with_answer(history, Absent("x", "no")) == history
    assert panel(answer, CHAT, after).chat == shown(after)


def test_the_line_under_the_pickers_says_what_to_give() -> None:
    assert describe(CLASSIFIER, False, "run 1") == (
        "Run 1 is a text classifier: type one of its texts and it answers every label with its probability."
    )
    assert describe(CLASSIFIER, True, "run 2").startswith("Run 2 was trained on text pairs: type the first text")
    assert describe(REGRESSION, False, "run 3").endswith("it answers a number.")
    assert describe(IMAGE, False, "run 4") == (
        "Run 4 is an image classifier: drop a file and it answers every label with its probability."
    )
    assert describe(AUDIO, False, "deployment http://127.0.0.1:8001 (run 5)").startswith(
        "Deployment http://127.0.0.1:8001 (run 5) is an audio classifier: drop a file or record a clip"
    )
    assert describe(CHAT, False, "run 6").startswith("Run 6 is a chat model")
