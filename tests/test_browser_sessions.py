"""Earlier chats in a real headless Chromium: a browser lists the chats it started (kept in its local storage,
so they survive a reload and a restart of the app), and another browser lists none of them.

Skipped where no Chromium is installed; `.ci/run` installs it first.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from web_app import free_port

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def earlier_chats(page: Any) -> list[str]:
    """The entries of the "Earlier chats" dropdown, as the user sees them when opening it."""
    dropdown = page.get_by_label("Earlier chats")
    dropdown.click()
    options = page.get_by_role("option")
    try:
        options.first.wait_for(timeout=3_000)
    except playwright.Error:
        return []
    finally:
        page.keyboard.press("Escape")
    return [text.replace("✓", "").strip() for text in options.all_inner_texts()]  # ✓ marks the chat on screen


def test_each_browser_lists_only_its_own_chats() -> None:
    from agent.assistant import Assistant
    from ui.render import MARKDOWN
    from ui.web import launch

    assistant = Assistant(presenter=MARKDOWN)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    demo = launch(port=port, assistant=assistant, prevent_thread_lock=True)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            mine = browser.new_context().new_page()
            mine.goto(url)
            box = mine.get_by_placeholder("Type a message", exact=False)
            box.wait_for(timeout=30_000)
            box.fill("list runs")
            box.press("Enter")
            mine.get_by_text("There are no runs yet", exact=False).last.wait_for(timeout=60_000)
            assert [entry.split(" · ")[0] for entry in earlier_chats(mine)] == ["list runs"]

            # After a reload the chat is still listed (the browser kept its id) and reopens with its messages.
            mine.reload()
            mine.get_by_placeholder("Type a message", exact=False).wait_for(timeout=30_000)
            [entry] = earlier_chats(mine)
            assert entry.startswith("list runs")
            mine.get_by_label("Earlier chats").click()
            mine.keyboard.press("ArrowDown")
            mine.keyboard.press("Enter")
            mine.get_by_text("There are no runs yet", exact=False).last.wait_for(timeout=30_000)

            # Another browser (its own storage) sees no chat of the first one.
            other = browser.new_context().new_page()
            other.goto(url)
            other.get_by_placeholder("Type a message", exact=False).wait_for(timeout=30_000)
            assert earlier_chats(other) == []
            browser.close()
    finally:
        demo.close()
    assert len(assistant.sessions.list_sessions()) >= 1
