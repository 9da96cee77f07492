"""The web app's pages in a real headless Chromium (Playwright driving Debian's chromium package), for the browser
tests: start the app, open a tab by its name, screenshot it, read the Runs room's loss curve.

A room's test adds one line per tab: `shot = visit(page, "Compare", expect="Pick runs")`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Where the screenshots are kept; CI can collect them from here.
SCREENSHOT_DIR = Path(os.environ.get("TUNECHAT_SCREENSHOTS", Path(__file__).resolve().parent / "screenshots"))
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The Runs room's loss plot, the words under it and its facts (ui/rooms/runs.py).
LOSS_PLOT = "#tc-loss-plot"
CURVE_CAPTION = "#tc-curve-caption"
RUN_FACTS = "#tc-run-facts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(assistant: Any) -> Iterator[str]:
    """The web app around `assistant` on a free loopback port: its URL, closed afterwards."""
    from ui.web import launch

    port = free_port()
    demo = launch(port=port, assistant=assistant, prevent_thread_lock=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def browser_page(url: str, width: int = 1400, height: int = 1400) -> Iterator[Any]:
    """A fresh Chromium page on `url`, once the chat's message box is there."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.get_by_placeholder("Type a message", exact=False).wait_for(timeout=30_000)
            yield page
        finally:
            browser.close()


def open_tab(page: Any, name: str) -> None:
    """Click the tab called `name` and wait until it is the selected one."""
    tab = page.get_by_role("tab", name=name, exact=True)
    tab.click()
    page.wait_for_function(
        "name => [...document.querySelectorAll('[role=tab]')].some("
        "t => t.textContent.trim() === name && t.getAttribute('aria-selected') === 'true')",
        arg=name,
        timeout=10_000,
    )


def screenshot(page: Any, name: str) -> Path:
    """The whole page as tests/screenshots/<name>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def visit(page: Any, tab: str, expect: str | None = None, timeout_ms: int = 30_000) -> Path:
    """Open a tab, wait for a text it shows (if given), and save its screenshot as rooms-<tab>.png."""
    open_tab(page, tab)
    if expect:
        page.get_by_text(expect, exact=False).first.wait_for(timeout=timeout_ms)
    return screenshot(page, f"rooms-{tab.lower()}")


def curve_points(page: Any) -> int:
    """How many points (training and validation loss) the caption under the Runs room's loss plot counts."""
    caption = page.locator(CURVE_CAPTION).inner_text(timeout=5_000)
    return sum(int(count) for count in re.findall(r"(\d+) \w+ loss points", caption))


def drawn_vertices(page: Any) -> int:
    """How many vertices the loss plot's drawn lines have (its SVG paths, every series together)."""
    return int(
        page.evaluate(
            "sel => [...document.querySelectorAll(sel + ' path')]"
            ".filter(p => (p.getAttribute('aria-roledescription') || '').includes('line')"
            " || (p.closest('g') && (p.closest('g').getAttribute('class') || '').includes('mark-line')))"
            ".map(p => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length)"
            ".reduce((a, b) => a + b, 0)",
            LOSS_PLOT,
        )
    )
