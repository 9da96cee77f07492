"""The playground tries every kind of finished run on the input its model reads: a text, a text pair, a number's
text, an image and a sound clip (read only from the upload folder and kept in the workspace), each beside its base
(a run tuned further from another run's model) or one sentence saying there is none, and beside another run."""

from __future__ import annotations

import io
from pathlib import Path

import play_runs
import pytest
import toy_audio
import toy_images

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.serve.play_targets import AUDIO, CLASSIFIER, IMAGE, REGRESSION
from trainer.serve.playground import Absent, Given, Playground, Scores
from trainer.store.registry import Registry


@pytest.mark.slow  # loads five tiny models
def test_text_models_answer_beside_their_base_and_another_run(
    ws: Workspace, registry: Registry, tiny_bert: Path
) -> None:
    from trainer.tasks.text_classification.predict import Predictor
    from trainer.tasks.text_regression.predict import Regressor
    from ui.playground import PlaygroundView

    first = play_runs.text_run(ws, registry, tiny_bert)
    # Run 2 tuned run 1's model further: run 1 is its base classifier.
    further = play_runs.text_run(ws, registry, tiny_bert, base=str(ws.run_dir(first) / "model"))
    pairs = play_runs.text_run(ws, registry, tiny_bert, pairs=True)
    numbers = play_runs.regression_run(ws, registry, play_runs.regression_head(tiny_bert, ws.root / "reg"))
    playground = Playground(ws, registry)
    kinds = {choice.run_id: choice.kind for choice in playground.choices()}
    assert kinds == {first: CLASSIFIER, further: CLASSIFIER, pairs: CLASSIFIER, numbers: REGRESSION}
    text = Given("the food was great")

    tuned = playground.answer(str(first), text)
    expected = Predictor.from_run(ws.run_dir(first)).predict([text.text])[0]
    assert isinstance(tuned, Scores) and tuned.model == f"run {first} (tuned)"
    assert [row["label"] for row in tuned.labels] == [row["label"] for row in expected]
    assert [row["score"] for row in tuned.labels] == pytest.approx([row["score"] for row in expected])
    # A pretrained encoder with a new head has no base classifier, and says so; nothing more was loaded for it.
    assert playground.base(str(first), text) == Absent(
        f"base model {tiny_bert.name}",
        f"There is no base text classifier to compare: run {first} put a new classification head on "
        f"{tiny_bert.name}, which cannot answer before training; pick another run to compare with.",
    )
    assert len(playground.cache.loads) == 1
    base = playground.base(str(further), text)
    assert isinstance(base, Scores) and base.model == f"run {first} (its base)" and base.labels == tuned.labels
    compared = playground.compare(str(first), str(further), text)
    assert isinstance(compared, Scores) and compared.model == f"run {further} (tuned)"
    assert playground.compare(str(first), str(pairs), text) == Absent(
        f"run {pairs}",
        f"Run {pairs} reads text pairs, not the single texts run {first} reads; "
        "pick a run of the same kind to compare.",
    )

    with pytest.raises(UserError, match=f"Type both texts first; Run {pairs} was trained on text pairs"):
        playground.answer(str(pairs), Given("a man plays a guitar"))
    pair = playground.answer(str(pairs), Given("a man plays a guitar", "someone makes music"))
    expected = Predictor.from_run(ws.run_dir(pairs)).predict(["a man plays a guitar"], pairs=["someone makes music"])
    assert isinstance(pair, Scores) and [row["score"] for row in pair.labels] == pytest.approx(
        [row["score"] for row in expected[0]]
    )

    number = playground.answer(str(numbers), text)
    predicted = Regressor.from_run(ws.run_dir(numbers)).predict([text.text])[0]["score"]
    assert isinstance(number, Scores) and number.labels == [] and number.target == "stars"
    assert number.value == pytest.approx(predicted)
    absent = playground.base(str(numbers), text)
    assert isinstance(absent, Absent) and absent.reason.startswith("There is no base text regression model")

    # Through the web handlers: the three sides, each with its panel, in one try.
    view = PlaygroundView(playground)
    *_, last = view.play(str(first), str(further), "the food was great", "", None, None, 64, None)
    status, _, _, _, _, tuned_labels, base_labels, other_labels, tuned_note, base_note, other_note = last
    assert status.startswith(f"Scored by run {first} in ") and status.endswith("s; 1 more beside it.")
    assert tuned_labels == {row["label"]: pytest.approx(row["score"]) for row in tuned.labels}
    assert base_labels == {} and base_note.startswith("ℹ️ There is no base text classifier")
    assert other_labels == {row["label"]: pytest.approx(row["score"]) for row in compared.labels}
    assert tuned_note.startswith(f"**{tuned.labels[0]['label']}** (") and f"run {first} (tuned), " in tuned_note
    assert f"run {further} (tuned), " in other_note
    *_, last = view.play(str(numbers), "", "the food was great", "", None, None, 64, None)
    assert last[8].startswith(f"Predicted stars: **{number.value:.4g}**")


def _wav(frequency: float) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, toy_audio.tone(frequency), toy_audio.RATE, format="WAV")
    return buffer.getvalue()


@pytest.mark.slow  # builds and loads two tiny media models
def test_an_image_and_a_sound_clip_are_read_from_the_upload_folder_only(
    ws: Workspace, registry: Registry, tiny_whisper: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.tasks.audio_classification.task import TASK as SOUNDS
    from trainer.tasks.image_classification.task import TASK as IMAGES
    from trainer.tasks.media.serve import Classifier
    from ui.playground import PlaygroundView

    uploads = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    lite = toy_images.tiny_efficientnet(tmp_path / "lite")
    image_run = play_runs.media_run(ws, registry, IMAGES, lite, image_size=32)
    sound_run = play_runs.media_run(ws, registry, SOUNDS, tiny_whisper, clip_seconds=0.5)
    playground = Playground(ws, registry)
    assert {choice.run_id: choice.kind for choice in playground.runs()} == {image_run: IMAGE, sound_run: AUDIO}
    view = PlaygroundView(playground)

    picture = toy_images.encoded(toy_images.picture("warm", 3))
    dropped = uploads / "f00d" / "warm.png"
    dropped.parent.mkdir(parents=True)
    dropped.write_bytes(picture)
    *_, last = view.play(str(image_run), "", "", "", str(dropped), None, 64, None)
    expected = Classifier.from_run(IMAGES.modality, ws.run_dir(image_run)).predict([picture])[0]
    assert last[0].startswith(f"Scored by run {image_run} in ")
    assert last[5] == {row["label"]: pytest.approx(row["score"]) for row in expected}
    assert last[9].startswith("ℹ️ There is no base image classifier")
    assert last[10] == "Pick another run or a deployment under **Compare with** to see its answer here."
    assert (ws.uploads / "playground" / "warm.png").read_bytes() == picture  # the upload stays in the workspace

    # A path anywhere else (an API caller can send any string) is never opened.
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(picture)
    for path in (elsewhere, ws.db_path, uploads / ".." / "elsewhere.png"):
        (shown, *rest) = list(view.play(str(image_run), "", "", "", str(path), None, 64, None))[-1]
        assert shown == "⚠️ That file was not uploaded here; drop the file into the playground to try it."
    (shown, *_), *_ = list(view.play(str(image_run), "", "", "", None, None, 64, None))
    assert shown == f"⚠️ Drop an image first; Run {image_run} is an image classifier."
    with pytest.raises(UserError, match="send a readable image file"):
        playground.answer(str(image_run), Given(data=b"not an image at all"))

    clip = uploads / "f00e" / "recording.wav"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(_wav(440))
    *_, last = view.play(str(sound_run), str(image_run), "", "", None, str(clip), 64, None)
    expected = Classifier.from_run(SOUNDS.modality, ws.run_dir(sound_run)).predict([_wav(440)])[0]
    assert last[5] == {row["label"]: pytest.approx(row["score"]) for row in expected}
    assert last[10] == (
        f"ℹ️ Run {image_run} reads images, not the sound clips run {sound_run} reads; pick a run of the same kind to "
        "compare."
    )
