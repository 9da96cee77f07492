"""The command line: real subprocesses for train, in-process main() for the quick commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )


def test_train_json_then_runs_eval_compare(reviews_tsv: Path, tiny_bert: Path, capsys) -> None:
    result = run_cli(
        "train", "--data", str(reviews_tsv), "--model", str(tiny_bert), "--epochs", "6", "--lr", "1e-2", "--json"
    )
    assert result.returncode == 0, result.stderr
    trained = json.loads(result.stdout)
    assert trained["run_id"] == 1 and trained["status"] == "succeeded"
    assert trained["accuracy"] >= 0.9 and trained["macro_f1"] >= 0.9

    # Reproduce the run from its saved config, with one flag changed.
    config = Path(os.environ["TUNECHAT_HOME"]) / "runs" / "run-1" / "config.json"
    result = run_cli("train", "--config", str(config), "--epochs", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run_id"] == 2

    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["id"], r["status"]) for r in runs] == [(1, "succeeded"), (2, "succeeded")]

    assert main(["eval", "1", "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert Path(evaluation["confusion_matrix_png"]).is_file()

    assert main(["compare", "1", "2", "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    epochs = next(row for row in comparison["config_rows"] if row["field"] == "epochs")
    assert epochs["values"] == [6.0, 1.0] and epochs["differs"] is True


def test_inspect_json_reports_columns_and_labels(reviews_tsv: Path, capsys) -> None:
    assert main(["inspect", str(reviews_tsv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 120
    assert (report["text_column"], report["label_column"]) == ("text", "label")
    assert {entry["label"]: entry["count"] for entry in report["labels"]} == {"pos": 60, "neg": 60}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "7"], "There is no run 7"),
        (["inspect", "/no/such/file.csv"], "There is no file at '/no/such/file.csv'"),
        (["compare", "1"], "two"),
    ],
)
def test_errors_go_to_stderr_with_nonzero_exit(args: list[str], message: str, capsys) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and captured.err.startswith("error: ")


def test_empty_file_is_one_sentence(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert main(["inspect", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "'empty.tsv' is empty" in err and err.count("\n") == 1


def test_terminal_chat_keeps_its_session_across_calls(reviews_tsv: Path, capsys) -> None:
    assert main(["chat", "inspect this", "--file", str(reviews_tsv), "--session", "s1"]) == 0
    assert "120 rows" in capsys.readouterr().out
    assert main(["chat", "fine-tune a classifier on this", "--session", "s1"]) == 0
    assert "**Plan**" in capsys.readouterr().out  # the file from the previous call is remembered
    assert main(["chat", "fine-tune a classifier on this", "--session", "s2"]) == 0
    assert "Upload a CSV, TSV or JSONL file" in capsys.readouterr().out
