"""The web chat in a real headless Chromium (Playwright driving Debian's chromium package):
upload a file, get the plan, confirm, watch progress, see the final metrics, then try the run in the playground.
Saves a screenshot of each.

Skipped where no Chromium is installed; `.ci/run` installs it first.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]

# Where the screenshot is kept; CI can collect it from here.
SCREENSHOT_DIR = Path(os.environ.get("TUNECHAT_SCREENSHOTS", Path(__file__).resolve().parent / "screenshots"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_upload_plan_confirm_progress_metrics_in_a_real_browser(reviews_tsv: Path, tiny_bert: Path) -> None:
    from agent.assistant import Assistant
    from ui.render import MARKDOWN
    from ui.web import launch

    assistant = Assistant(presenter=MARKDOWN)
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    port = free_port()
    demo = launch(port=port, assistant=assistant, prevent_thread_lock=True)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(f"http://127.0.0.1:{port}/")
            box = page.get_by_placeholder("Type a message", exact=False)
            box.wait_for(timeout=30_000)

            def send(text: str, expect: str) -> None:
                box.fill(text)
                box.press("Enter")
                page.get_by_text(expect, exact=False).last.wait_for(timeout=60_000)

            page.set_input_files("input[type=file]", str(reviews_tsv))
            page.get_by_role("listitem", name="File thumbnail").first.wait_for(timeout=30_000)
            send("fine-tune a sentiment classifier on this", "Estimated run time")
            assert page.get_by_text("120 rows", exact=False).count() >= 1
            send("use model tiny", "Updated the plan (model")
            send("use 6 epochs and learning rate 1e-2", "Updated the plan (epochs")
            # The header names the assistant's backend.
            assert page.get_by_text("guided mode (no LLM configured)", exact=False).count() >= 1
            # Suggested next steps are clickable: "go" starts the plan without typing.
            page.get_by_role("button", name="go", exact=True).last.click()
            page.get_by_text("Started run 1", exact=False).last.wait_for(timeout=60_000)

            # The side panel follows the run from the timer, without another message.
            page.get_by_text("Run 1", exact=False).first.wait_for(timeout=30_000)
            page.get_by_text("succeeded", exact=False).first.wait_for(timeout=240_000)

            send("results", "majority-class baseline")
            page.locator("img[src*='confusion_matrix']").last.wait_for(timeout=30_000)
            assert page.get_by_text("macro-F1", exact=False).count() >= 1

            # Every tool step is a collapsed accordion: its arguments show only after a click on its title.
            step_title = page.get_by_text("🔧 evaluate_run", exact=False).last
            step_title.wait_for(timeout=30_000)
            arguments = page.get_by_text('"run_id": null', exact=False).last
            assert not arguments.is_visible()
            step_title.click()
            arguments.wait_for(state="visible", timeout=10_000)

            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOT_DIR / "e2e-results.png"
            page.screenshot(path=str(shot), full_page=True)

            # The playground in its own tab: the finished classifier scores a typed text, its labels drawn as bars,
            # and the base side says why a new head has no base to compare with.
            page.get_by_role("tab", name="Playground", exact=True).click()
            page.get_by_label("Run", exact=True).click()
            page.get_by_role("option", name="run 1 ·", exact=False).first.click()
            page.get_by_text("Run 1 is a text classifier", exact=False).first.wait_for(timeout=30_000)
            page.get_by_label("Message", exact=True).fill("the food was great")
            page.get_by_role("button", name="Send", exact=True).click()
            page.get_by_text("Scored by run 1", exact=False).first.wait_for(timeout=60_000)
            page.get_by_text("There is no base text classifier to compare", exact=False).first.wait_for(timeout=30_000)
            assert page.get_by_text("run 1 (tuned)", exact=False).count() >= 1
            assert page.get_by_text("Tuned model (the run)", exact=False).count() >= 1
            played = SCREENSHOT_DIR / "e2e-playground.png"
            page.screenshot(path=str(played), full_page=True)
            browser.close()
        assert shot.read_bytes().startswith(b"\x89PNG") and played.read_bytes().startswith(b"\x89PNG")
        assert assistant.registry.get_run(1)["status"] == "succeeded"
    finally:
        demo.close()
