"""The one explicit list of tools. Both the guided mode and the LLM agent call these functions.

Each tool takes a ToolContext first (bound by the agent, never seen by the LLM) and typed
arguments documented in a Google-style `Args:` section, which is what the LLM reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tools.advisor_tools import advise_method
from tools.data_tools import inspect_data, list_files, prepare_data, propose_plan
from tools.diagnose_tools import diagnose_run, relaunch_run
from tools.dry_run_tools import dry_run
from tools.explain_tools import explain_comparison
from tools.export_tools import export_run
from tools.forgetting_tools import judge_answers, retrain_with_remedy
from tools.history_tools import find_runs, plan_like_run, resume_run
from tools.manage_tools import delete_dataset, delete_run, stop_serving
from tools.run_tools import (
    compare_runs,
    deploy_run,
    evaluate_run,
    list_runs,
    run_status,
    start_training,
    stop_run,
)
from tools.search_tools import plan_search, resume_search, search_status, stop_search

# A tool returns a JSON-like mapping: a dict, or a typed result (trainer/core/records.py) that reads as one.
Tool = Callable[..., Mapping[str, Any]]

TOOLS: list[Tool] = [
    list_files,
    advise_method,
    inspect_data,
    prepare_data,
    propose_plan,
    dry_run,
    start_training,
    run_status,
    stop_run,
    evaluate_run,
    compare_runs,
    explain_comparison,
    deploy_run,
    stop_serving,
    export_run,
    list_runs,
    find_runs,
    plan_like_run,
    resume_run,
    delete_run,
    delete_dataset,
    diagnose_run,
    relaunch_run,
    plan_search,
    search_status,
    resume_search,
    stop_search,
    retrain_with_remedy,
    judge_answers,
]

TOOLS_BY_NAME: dict[str, Tool] = {tool.__name__: tool for tool in TOOLS}
