"""`tunechat export RUN --format F`: a finished run written in a format other tools run, checked for parity.

Progress lines go to stderr while it works; then the folder, its files and the parity verdict (or, with --json,
one object on stdout). A parity check that fails exits with 1 after naming the first difference and its fix.
`--push REPO` (hub only) uploads the finished folder: typing it is the user's consent, and it needs HF_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainer.core.errors import UserError
from trainer.core.records import plain
from ui.cli.common import arg, context

EXPORT_FLAGS = (
    arg("run", type=int, help="the run to export (it must have succeeded on this machine)"),
    arg("--format", required=True, help="merged, gguf, onnx or hub (see the README's Export section)"),
    arg("--quant", help="gguf: quantisations besides f16, comma-separated, e.g. q8_0,q4_k_m"),
    arg("--push", metavar="REPO", help="hub: push the folder to this Hugging Face repository (needs HF_TOKEN)"),
)


def _progress(line: str) -> None:
    print(f"… {line}", file=sys.stderr, flush=True)


def cmd_export(args: argparse.Namespace) -> int:
    from trainer.export.base import ExportOptions
    from trainer.export.hub import FORMAT as HUB
    from trainer.export.hub import push_folder
    from trainer.export.registry import format_named
    from trainer.export.writer import export_run
    from ui.render.export import render_export

    if args.push and format_named(args.format) is not HUB:
        raise UserError("--push uploads a hub export only; add --format hub, or leave out --push.")
    quant = tuple(part.strip().lower() for part in (args.quant or "").split(",") if part.strip())
    ctx = context()
    options = ExportOptions(quantisations=quant, repo_id=args.push)
    result = export_run(ctx.workspace, ctx.registry, args.run, args.format, options, _progress).to_dict()
    failed = result["parity_ok"] is False
    if args.push and not failed:
        _progress(f"pushing to https://huggingface.co/{args.push}")
        result["pushed_to"] = push_folder(Path(result["folder"]), args.push)
    if args.json:
        keys = ("run_id", "format", "folder", "files", "parity_ok", "parity", "notes", "commands", "pushed_to")
        print(json.dumps({key: plain(result.get(key)) for key in keys if key in result}, default=str))
    else:
        print(render_export(result))
    if failed:
        parity = result.get("parity") or {}
        first = parity.get("first_mismatch") or {}
        print(
            f"error: the export does not answer like the trained model (first on {first.get('input')!r}: "
            f"{parity.get('cause')}). {parity.get('fix')}." + (" Nothing was pushed." if args.push else ""),
            file=sys.stderr,
        )
        return 1
    return 0
