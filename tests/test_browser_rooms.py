"""The web UI's rooms in a real headless Chromium: every tab opens (a screenshot of each), and in the Runs tab a
training run's loss curve grows while it trains, then the Stop button stops it only after its Confirm.

Skipped where no Chromium is installed; `.ci/run` installs it first.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from browser_pages import (
    CHROMIUM,
    RUN_FACTS,
    browser_page,
    curve_points,
    drawn_vertices,
    open_tab,
    screenshot,
    served,
    visit,
)

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]


def eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_every_tab_opens_and_a_runs_curve_grows_while_it_trains(reviews_tsv: Path, tiny_bert: Path) -> None:
    from agent.assistant import Assistant
    from tools.launch import launch_plan
    from trainer.backends import runs
    from trainer.plan.config import resolve_config
    from trainer.store.registry import ACTIVE
    from ui.render import MARKDOWN

    assistant = Assistant(chat_model=None, presenter=MARKDOWN)
    model = assistant.workspace.models / "tiny"
    shutil.copytree(tiny_bert, model)
    # Long enough to be read twice while it trains (no early stop, many small batches); the test stops it.
    config = {"task": "text-classification", "data": str(reviews_tsv), "model": str(model), "epochs": 150}
    config |= {"batch_size": 4, "max_length": 32, "learning_rate": 1e-3, "early_stopping_patience": 0}
    # Started first: its worker loads torch while the app and the browser start.
    run_id = launch_plan(assistant.context(""), resolve_config(config).to_dict())["run_id"]
    try:
        with served(assistant) as url, browser_page(url) as page:
            shots = [screenshot(page, "rooms-chat")]  # the chat is the tab the page opens on
            open_tab(page, "Runs")
            page.get_by_label("Selected run", exact=True).click()
            page.get_by_role("option", name=f"run {run_id} ·", exact=False).first.click()
            eventually(lambda: curve_points(page) >= 2, 90, "the first points of the loss curve")
            first, first_drawn = curve_points(page), drawn_vertices(page)
            assert assistant.registry.get_run(run_id)["status"] in ACTIVE
            # No message, no click: the room's timer reads metrics.jsonl again while the run trains.
            eventually(lambda: curve_points(page) > first, 60, "the loss curve to grow")
            assert assistant.registry.get_run(run_id)["status"] in ACTIVE
            eventually(lambda: drawn_vertices(page) > first_drawn, 10, "the drawn line to grow")
            page.locator(RUN_FACTS).get_by_text("ETA", exact=False).wait_for(timeout=10_000)
            shots.append(screenshot(page, "rooms-runs"))

            # Stop is a plan: the first click changes nothing, the Confirm button carries it out.
            page.get_by_role("button", name="Stop", exact=True).click()
            page.get_by_text("Waiting for your confirmation", exact=False).first.wait_for(timeout=10_000)
            assert assistant.registry.get_run(run_id)["status"] in ACTIVE
            page.get_by_role("button", name="Confirm", exact=True).click()
            page.get_by_text(f"Run {run_id} is cancelled", exact=False).first.wait_for(timeout=30_000)
            assert assistant.registry.get_run(run_id)["status"] == "cancelled"
            shots.append(visit(page, "Playground", expect="Pick a finished run or a live deployment"))
            open_tab(page, "Chat")
            page.get_by_placeholder("Type a message", exact=False).wait_for(state="visible", timeout=10_000)
    finally:  # never leave a training worker behind, whatever failed above
        if assistant.registry.get_run(run_id)["status"] in ACTIVE:
            runs.stop_run(assistant.workspace, assistant.registry, run_id)
    assert all(shot.read_bytes().startswith(b"\x89PNG") for shot in shots)
