"""The Compare, Data and Settings tabs in a real headless Chromium (Playwright driving Debian's chromium package):
two finished runs compared (curves, settings, metrics, why one won), a CSV dropped into the chat shown in the Data tab
with its task and problem lines, and the chat backend saved from the Settings tab. Saves a screenshot of each tab.

Skipped where no Chromium is installed; `.ci/run` installs it first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from room_runs import finished_run
from test_browser_e2e import SCREENSHOT_DIR, free_port

from agent.settings import settings_path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"]


def test_compare_data_and_settings_tabs_in_a_real_browser(tmp_path: Path) -> None:
    from agent.assistant import Assistant
    from ui.render import MARKDOWN
    from ui.web import launch

    assistant = Assistant(presenter=MARKDOWN)
    first = finished_run(assistant.workspace, assistant.registry, [0.7, 0.6, 0.55, 0.5, 0.48, 0.47], 0.70)
    second = finished_run(
        assistant.workspace, assistant.registry, [0.7, 0.5, 0.35, 0.25, 0.2, 0.18], 0.90, learning_rate=1e-4
    )
    tickets = tmp_path / "tickets.csv"
    rows = [f"ticket {i} about the printer,{'urgent' if i % 3 == 0 else 'normal'}" for i in range(40)]
    tickets.write_text("\n".join(["text,label", *rows, "ticket 5 about the printer,urgent", ",normal"]) + "\n")
    port = free_port()
    demo = launch(port=port, assistant=assistant, prevent_thread_lock=True)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(f"http://127.0.0.1:{port}/")
            box = page.get_by_placeholder("Type a message", exact=False)
            box.wait_for(timeout=30_000)

            # Data: a CSV dropped into this chat, then its tab: preview, detected task, problems with their lines.
            page.set_input_files("input[type=file]", str(tickets))
            page.get_by_role("listitem", name="File thumbnail").first.wait_for(timeout=30_000)
            box.fill("inspect my data")
            box.press("Enter")
            page.get_by_text("42 rows (csv)", exact=False).last.wait_for(timeout=60_000)
            page.get_by_role("tab", name="Data").click()
            page.get_by_text("Detected task:", exact=False).first.wait_for(timeout=30_000)
            page.get_by_text("ticket 0 about the printer", exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("line 43", exact=True).first.wait_for(timeout=30_000)
            assert page.get_by_text("41 usable", exact=False).count() >= 1
            page.screenshot(path=str(SCREENSHOT_DIR / "rooms-data.png"), full_page=True)

            # Compare: two runs picked in the list; curves, differing setting, metrics, the explanation.
            page.get_by_role("tab", name="Compare").click()
            picker = page.get_by_label("Runs to compare", exact=True)
            for run_id in (first, second):
                picker.click()
                page.get_by_role("option", name=f"run {run_id} ·", exact=False).first.click()
            page.keyboard.press("Escape")
            page.get_by_text(f"Best: run {second}", exact=False).first.wait_for(timeout=30_000)
            page.get_by_text(f"Run {second} beat run {first}", exact=False).first.wait_for(timeout=30_000)
            assert page.get_by_text("learning_rate", exact=True).count() >= 1
            assert page.get_by_text("macro_f1", exact=True).count() >= 1
            # Both curves drawn, with the legend naming each run.
            plot = page.locator(".vega-embed").first
            plot.get_by_text(f"run {second}", exact=True).first.wait_for(timeout=30_000)
            assert plot.get_by_text(f"run {first}", exact=True).count() >= 1
            page.screenshot(path=str(SCREENSHOT_DIR / "rooms-compare.png"), full_page=True)

            # Settings: the backend in use, then an OpenAI-compatible server saved to the settings file.
            page.get_by_role("tab", name="Settings").click()
            page.get_by_text("In use now:", exact=False).first.wait_for(timeout=30_000)
            assert page.get_by_text("guided mode", exact=False).count() >= 1
            page.get_by_label("Backend", exact=True).click()
            page.get_by_role("option", name="openai-compatible", exact=True).click()
            page.get_by_label("Base URL", exact=True).fill("http://127.0.0.1:11434/v1")
            page.get_by_label("Model", exact=True).fill("qwen2.5:7b")
            page.get_by_role("button", name="Save settings").click()
            page.get_by_text("After a restart: LLM: qwen2.5:7b", exact=False).first.wait_for(timeout=30_000)
            page.screenshot(path=str(SCREENSHOT_DIR / "rooms-settings.png"), full_page=True)
            browser.close()
        assert json.loads(settings_path().read_text())["llm"] == {
            "backend": "openai-compatible",
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "qwen2.5:7b",
        }
        for name in ("rooms-data.png", "rooms-compare.png", "rooms-settings.png"):
            assert (SCREENSHOT_DIR / name).read_bytes().startswith(b"\x89PNG")
    finally:
        demo.close()
