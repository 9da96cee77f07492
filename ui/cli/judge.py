"""`tunechat judge RUN`: an LLM judges a run's tuned answers against its base model's, after the user's yes."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Any

from trainer.core.errors import UserError
from ui.cli.common import arg, context, emit

JUDGE_FLAGS = (
    arg("run", type=int, help="the SFT run whose held-out answers to judge"),
    arg("--judge-base-url", help="an OpenAI-compatible server to judge with (default: the chat's LLM settings)"),
    arg("--judge-model", help="the judging model's name on that server"),
    arg(
        "--judge-key-env",
        metavar="VAR",
        help="the environment variable holding the judge's API key (a key is never given as a flag)",
    ),
    arg("--yes", action="store_true", help="accept the plan without asking (hosted judges cost money)"),
)


def judge_endpoint_of(args: argparse.Namespace) -> Any:
    """The judge the flags name, else the chat's configured LLM (flags > environment > settings file)."""
    from agent.backends import COMPATIBLE, BackendChoice, judge_endpoint, resolve_backend

    if args.judge_base_url:
        choice = BackendChoice(
            kind=COMPATIBLE,
            model=args.judge_model,
            base_url=args.judge_base_url,
            api_key_env=args.judge_key_env,
            sources={"base_url": "flag --judge-base-url"},
        )
        if args.judge_key_env and not os.environ.get(args.judge_key_env):
            raise UserError(f"--judge-key-env names {args.judge_key_env}, which is not set; export it and try again.")
    else:
        choice = resolve_backend({})
    endpoint = judge_endpoint(choice)
    if endpoint is None:
        raise UserError(
            "No LLM is configured to judge with; pass --judge-base-url URL --judge-model NAME, or set the chat's "
            "LLM with `tunechat settings --set llm.backend=...`."
        )
    return replace(endpoint, model=args.judge_model) if args.judge_model else endpoint


def cmd_judge(args: argparse.Namespace) -> int:
    from tools.forgetting_tools import JUDGE, judge_answers
    from tools.pending import confirm_pending
    from ui.render.evaluation_extras import render_judge

    ctx = replace(context(), judge=judge_endpoint_of(args))
    plan = judge_answers(ctx, args.run)
    print(f"Plan: {plan['plan']}.", file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(
                "Nothing was sent: the judge's requests may cost money and this input cannot confirm them; run the "
                "command again with --yes to accept the plan above."
            )
        if input("Send these requests? [y/N] ").strip().lower() not in ("y", "yes", "go"):
            print("Nothing was sent.", file=sys.stderr)
            return 1
    result = confirm_pending(ctx, plan["action_id"], kind=JUDGE)
    emit(args, result, render_judge)
    return 0
