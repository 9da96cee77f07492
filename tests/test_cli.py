"""The command line: real subprocesses for train, in-process main() for the quick commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from ui.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )


@pytest.mark.slow
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
def test_errors_go_to_stderr_with_exit_code_1(args: list[str], message: str, capsys) -> None:
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and captured.err.startswith("error: ")


def test_empty_file_is_one_sentence(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert main(["inspect", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "'empty.tsv' is empty" in err and err.count("\n") == 1


def test_terminal_chat_keeps_its_session_across_calls(reviews_tsv: Path, capsys) -> None:
    assert main(["chat", "inspect this", "--file", str(reviews_tsv), "--session", "s1"]) == 0
    assert "120 rows" in capsys.readouterr().out
    assert main(["chat", "fine-tune a classifier on this", "--session", "s1"]) == 0
    assert "**Plan**" in capsys.readouterr().out  # the file from the previous call is remembered
    assert main(["chat", "fine-tune a classifier on this", "--session", "s2"]) == 0
    assert "Upload a CSV, TSV or JSONL file" in capsys.readouterr().out


def readme_command_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_has_help_json_where_it_prints_data_and_a_readme_row() -> None:
    table = readme_command_table()
    parsers = subcommands()
    assert list(parsers) == [command.name for command in COMMANDS]
    for command in COMMANDS:
        assert command.help.strip(), f"{command.name} has no help"
        has_json = "--json" in parsers[command.name]._option_string_actions
        assert has_json == command.prints_data, f"{command.name}: --json only and always where it prints data"
        assert f"`tunechat {command.name}" in table, f"{command.name} is missing from the README's command table"
    # ... and the README's table names no command that does not exist.
    named = set(re.findall(r"`tunechat ([a-z][a-z-]*)", table))
    assert named == {command.name for command in COMMANDS}
    assert "`tunechat --version`" in table


def test_version_comes_from_the_package_metadata(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"tunechat {version('tunechat')}"


@pytest.mark.parametrize("args", [["eval"], ["eval", "one"], ["no-such-command"], ["runs", "--colour"], []])
def test_a_command_line_that_does_not_parse_exits_with_2(args: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "usage: tunechat" in capsys.readouterr().err


def test_an_unexpected_failure_exits_with_1_and_its_traceback(offline_workspace: Path, capsys) -> None:
    # Not a problem the user's input explains: the run database is not a database (a broken disk, a bad copy).
    offline_workspace.mkdir(parents=True, exist_ok=True)
    (offline_workspace / "tunechat.db").write_bytes(b"this is not an SQLite file" * 100)
    assert main(["runs"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "DatabaseError" in err


@pytest.mark.slow
def test_a_plan_shown_by_one_chat_process_starts_on_go_in_the_next(
    reviews_tsv: Path, tiny_bert: Path, offline_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.backends import runs
    from trainer.core.workspace import Workspace
    from trainer.store.registry import Registry

    monkeypatch.setenv("TUNECHAT_LLM", "off")
    shutil.copytree(tiny_bert, offline_workspace / "models" / "tiny")
    planned = run_cli("chat", "--session", "s", "--file", str(reviews_tsv), "fine-tune a classifier, use model tiny")
    assert planned.returncode == 0, planned.stderr
    assert "**Plan**" in planned.stdout and "Say **go** to start" in planned.stdout
    # A new process (the plan waits in the database, not in memory) starts exactly that plan.
    started = run_cli("chat", "--session", "s", "go")
    assert started.returncode == 0, started.stderr
    assert "Started **run 1**" in started.stdout
    workspace = Workspace.from_env()
    registry = Registry(workspace.db_path)
    assert registry.get_run(1)["config"]["model"] == str((offline_workspace / "models" / "tiny").resolve())
    runs.stop_run(workspace, registry, 1, grace_s=5)
