"""Data commands: inspect a file, prepare (repair, convert, split) it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.cli.common import context, emit


def cmd_inspect(args: argparse.Namespace) -> int:
    from tools.data_tools import inspect_data
    from ui.render.data import render_inspection

    ctx = context()
    columns = {"text_column": args.text_column, "label_column": args.label_column, "task": args.task}
    if Path(args.file).is_dir() or args.model or args.max_length:
        # A folder (Hugging Face save_to_disk, one folder per class) is read in place; a named model's
        # tokenizer gives the token lengths.
        from trainer.inspection.report import inspect_file

        source = Path(args.file) if Path(args.file).is_dir() else ctx.workspace.import_file(Path(args.file))
        report = inspect_file(source, model=args.model, max_length=args.max_length, **columns)
    else:
        path = ctx.workspace.import_file(Path(args.file))
        report = inspect_data(ctx, path.name, **columns)
    emit(args, report, render_inspection)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from tools.data_tools import prepare_data
    from ui.render.data import render_prepared

    ctx = context()
    options = {
        "task": args.task,
        "dedupe": args.dedupe,
        "split": args.split,
        "to": args.to,
        "text_column": args.text_column,
        "label_column": args.label_column,
    }
    if Path(args.file).is_dir():
        from trainer.data.prepare import prepare_dataset

        manifest = prepare_dataset(Path(args.file), ctx.workspace, **options)
    else:
        path = ctx.workspace.import_file(Path(args.file))
        manifest = prepare_data(ctx, path.name, **options)
    emit(args, manifest, render_prepared)
    return 0
