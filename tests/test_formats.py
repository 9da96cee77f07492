"""Containers: Parquet, Hugging Face folders, plain text, JSON columns, media folders and zip archives,
and the bad inputs around them (unsafe entries, zip bombs, size limits). Small files made here."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.data.read import load_table
from trainer.data.shapes import detect_shape

ROWS = [{"text": f"a fairly long review number {i}", "label": "pos" if i % 2 else "neg"} for i in range(12)]


def one_sentence(error: pytest.ExceptionInfo[UserError], *fragments: str) -> str:
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message and message.endswith("."), message
    return message


def test_parquet_file_is_read_with_types_kept(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "stars": i} for i, r in enumerate(ROWS)]), path)
    table = load_table(path)
    assert (table.format, table.columns, len(table.rows)) == ("parquet", ["text", "label", "stars"], 12)
    assert table.rows[3] == {"text": ROWS[3]["text"], "label": "pos", "stars": "3"}
    assert table.records is not None and table.records[3]["stars"] == 3
    assert detect_shape(table)["mapping"] == {"text": "text", "label": "label"}


def test_hugging_face_save_to_disk_folder_and_its_splits(tmp_path: Path) -> None:
    import datasets

    folder = tmp_path / "hf"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:4])}
    ).save_to_disk(str(folder))
    table = load_table(folder)
    assert table.format == "hf-dataset" and len(table.rows) == 12 and table.rows[0] == ROWS[0]
    assert list(table.splits) == ["test"] and len(table.splits["test"].rows) == 4

    # The same folder zipped: its Arrow files are read from memory, nothing is extracted.
    archive = tmp_path / "hf.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in folder.rglob("*"):
            if file.is_file():
                zipped.write(file, file.relative_to(folder).as_posix())
    zipped_table = load_table(archive)
    assert zipped_table.rows == table.rows and len(zipped_table.splits["test"].rows) == 4


def test_plain_text_fasttext_and_json_columns(tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("first line of text\n\nsecond line of text\n", encoding="utf-8")
    table = load_table(plain)
    assert (table.format, table.columns, table.lines) == ("text", ["text"], [1, 3])
    assert detect_shape(table)["task"] == "text"

    fasttext = tmp_path / "train.txt"
    fasttext.write_text("".join(f"__label__{r['label']} {r['text']}\n" for r in ROWS), encoding="utf-8")
    table = load_table(fasttext)
    assert table.format == "fasttext" and table.rows[1] == {"text": ROWS[1]["text"], "label": "pos"}

    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"text": [r["text"] for r in ROWS], "label": [r["label"] for r in ROWS]}))
    table = load_table(columns)
    assert table.columns == ["text", "label"] and table.rows[5] == ROWS[5]


def test_folder_per_class_images_and_audio(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "pets" / label / f"{i}.png").write_bytes(b"\x89PNG fake")
    table = load_table(tmp_path / "pets")
    assert table.format == "folder" and len(table.rows) == 6
    info = detect_shape(table)
    assert (info["task"], info["shape"]) == ("image-classification", "image-folder-per-class")

    archive = tmp_path / "words.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for label in ("yes", "no"):
            for i in range(3):
                zipped.writestr(f"clips/{label}/{i}.wav", b"RIFF fake")
    table = load_table(archive)
    assert detect_shape(table)["task"] == "audio-classification"
    assert {row["label"] for row in table.rows} == {"yes", "no"}


def test_zip_with_one_file_and_with_train_test_files(tmp_path: Path) -> None:
    csv_text = "text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in ROWS)
    single = tmp_path / "data.zip"
    with zipfile.ZipFile(single, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("__MACOSX/._reviews.csv", b"junk")
        zipped.writestr("folder/reviews.csv", csv_text)
    table = load_table(single)
    assert table.source == "folder/reviews.csv" and len(table.rows) == 12
    assert any("zip archive 'data.zip'" in note for note in table.notes)

    splits = tmp_path / "splits.zip"
    with zipfile.ZipFile(splits, "w") as zipped:
        zipped.writestr("train.csv", csv_text)
        zipped.writestr("test.csv", "text,label\nanother long review text,pos\n")
    table = load_table(splits)
    assert len(table.rows) == 12 and len(table.splits["test"].rows) == 1

    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as zipped:
        zipped.writestr("a.csv", csv_text)
        zipped.writestr("b.csv", csv_text)
    with pytest.raises(UserError) as caught:
        load_table(several)
    one_sentence(caught, "several.zip", "several data files", "train, validation and test")


@pytest.mark.parametrize("entry", ["../evil.csv", "/etc/evil.csv", "a/../../evil.csv", "C:/evil.csv"])
def test_zip_entries_pointing_outside_are_refused(tmp_path: Path, entry: str) -> None:
    archive = tmp_path / "bad.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo(entry), "text,label\nhello there friend,pos\n")
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(UserError) as caught:
        load_table(archive)
    one_sentence(caught, "bad.zip", "points outside the archive", "nothing was extracted")
    assert not (tmp_path / "evil.csv").exists() and not (tmp_path.parent / "evil.csv").exists()


def test_zip_bomb_and_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("data.csv", b"text,label\n" + b"0" * 50_000_000)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UserError) as caught:
        load_table(bomb)
    one_sentence(caught, "bomb.zip", "zip bomb", "nothing was unpacked")

    monkeypatch.setenv("TUNECHAT_MAX_UPLOAD_MB", "1")
    with pytest.raises(UserError) as caught:
        load_table(bomb)
    one_sentence(caught, "bomb.zip", "would unpack to 50 MB", "TUNECHAT_MAX_UPLOAD_MB")
    big = tmp_path / "big.csv"
    big.write_text("text,label\n" + "a long enough review text,pos\n" * 50_000)
    with pytest.raises(UserError) as caught:
        load_table(big)
    one_sentence(caught, "big.csv", "over the 1 MB limit")

    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zipped:
        zipped.writestr("inner.zip", bomb.read_bytes())
    monkeypatch.delenv("TUNECHAT_MAX_UPLOAD_MB")
    with pytest.raises(UserError) as caught:
        load_table(nested)
    one_sentence(caught, "holds another archive")


def test_upload_names_with_parent_parts_stay_in_uploads(tmp_path: Path) -> None:
    workspace = Workspace.from_env()
    source = tmp_path / "r.csv"
    source.write_text("text,label\nhello there friend,pos\n")
    for name in ("../../evil.csv", "/etc/passwd", "..\\..\\win.csv"):
        stored = workspace.import_file(source, name=name)
        assert stored.parent == workspace.uploads and ".." not in stored.name
