"""A real search on the bundled MiniLM, killed with SIGKILL after its first trial and started again: it finishes
the trials it owes, one study, every run grouped under it, no trial counted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toy_data import make_reviews

from trainer.core.workspace import Workspace
from trainer.search.storage import open_study
from trainer.store.registry import FINISHED, Registry

ROOT = Path(__file__).resolve().parents[1]


def _search(data: Path) -> subprocess.Popen[str]:
    command = ["search", "--data", str(data), "--name", "s1", "--trials", "3", "--params", "learning_rate"]
    command += ["--epochs", "1", "--max-length", "16", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "ui.cli", *command],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _complete_trials(ws: Workspace) -> int:
    from optuna.trial import TrialState

    if not (ws.root / "search.db").exists():
        return 0
    try:
        return len(open_study(ws, "s1", 1).get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    except KeyError:
        return 0  # the study is not in the storage yet


@pytest.mark.slow
def test_a_killed_search_resumes_and_counts_each_trial_once(ws: Workspace, registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "reviews.tsv"
    data.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in make_reviews(40)))

    first = _search(data)
    deadline = time.monotonic() + 120
    while _complete_trials(ws) < 1:
        assert first.poll() is None, first.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the first trial did not finish in 120 s"
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.communicate()

    second = _search(data)
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0, err[-2000:]
    result = json.loads(out)

    complete = [row for row in result["trials"] if row["state"] == "complete"]
    assert len(complete) == 3 and len({row["trial"] for row in complete}) == 3
    assert len({row["run_id"] for row in complete}) == 3
    assert all(registry.get_run(row["run_id"]).status == "succeeded" for row in complete)
    # A trial the kill interrupted failed (its run too) and used no budget; its settings ran again.
    for row in result["trials"]:
        if row["state"] != "complete":
            assert row["interrupted"] and registry.get_run(row["run_id"]).status == "failed"
    # One study; every run of the workspace is one of its trials, and none is left training.
    assert [study["name"] for study in registry.list_studies()] == ["s1"]
    runs = registry.list_runs()
    assert set(registry.study_runs("s1")) == {run.id for run in runs}
    assert all(run.status in FINISHED for run in runs)
    # The JSON names the best trial's config and its validation macro-F1.
    best = result["best"]
    assert result["metric"] == best["metric"] == "eval_macro_f1"
    assert best["value"] == max(row["value"] for row in complete)
    assert best["config"]["learning_rate"] == best["params"]["learning_rate"] and best["config"]["epochs"] == 1
    assert Path(result["plot"]).is_file()
