"""Headless Chromium for the report's browser tests and benchmarks/report_size.py.

Debian's chromium (`apt-get install -y --no-install-recommends chromium`; `make test` installs
it), driven by Playwright's Python API (the `dev` extra) with `executable_path`: Playwright never
downloads a browser of its own.

    with report_browser() as browser:
        seconds = browser.open(Path("report.html").as_uri())
        rows = browser.evaluate("document.querySelectorAll('tr').length")
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["INSTALL", "ReportBrowser", "find_chromium", "missing_reason", "report_browser"]

INSTALL = "apt-get install -y --no-install-recommends chromium"
_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
         "--hide-scrollbars"]  # fmt: skip
VIEWPORT: Any = {"width": 1400, "height": 1000}  # Playwright's ViewportSize
# Resolves once the report's script has run (it sets data-ready) and two frames were drawn.
_READY = ("new Promise((ok) => { const check = () => document.documentElement.dataset.ready === '1'"
          " ? requestAnimationFrame(() => requestAnimationFrame(ok)) : setTimeout(check, 5);"
          " check(); })")  # fmt: skip


def find_chromium() -> str | None:
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_reason() -> str | None:
    """Why no browser can be driven here (None when one can)."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if find_chromium() is None:
        return f"Chromium is not installed (`{INSTALL}`, or `make chromium`)"
    return None


class ReportBrowser:
    """One headless page: open a report, evaluate script in it, click, take screenshots."""

    def __init__(self, browser: Any, page: Any):
        self.browser, self.page = browser, page

    @property
    def version(self) -> str:
        return f"Chromium {self.browser.version}"

    def open(self, url: str) -> float:
        """Load `url` and wait until the report's script has run and a frame was drawn; returns
        the seconds that took (navigation start to the frame after ready)."""
        self.page.goto("about:blank")
        start = time.perf_counter()
        self.page.goto(url, wait_until="load")
        self.page.evaluate(_READY)
        return time.perf_counter() - start

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def click_at(self, x: float, y: float) -> None:
        """A real mouse click (pressed and released) at page coordinates."""
        self.page.mouse.click(x, y)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))


@contextmanager
def report_browser(timeout_s: float = 30) -> Iterator[ReportBrowser]:
    """Start Debian's Chromium headless with one page; stopped on exit. Raises RuntimeError
    with `missing_reason()` when it cannot be started."""
    reason = missing_reason()
    if reason is not None:
        raise RuntimeError(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=_ARGS, headless=True,
                                             timeout=timeout_s * 1000)  # fmt: skip
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(timeout_s * 1000)
            yield ReportBrowser(browser, page)
        finally:
            browser.close()
