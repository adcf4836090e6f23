"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright.

``browser`` starts Chromium once per test process (session scope; each xdist worker has
its own). ``open_page(url)`` opens a URL in a fresh context and returns a ``Visit``: the
loaded page, its console errors, the requests that would leave the page's own file or
server (aborted, never sent), and ``screenshot(name)``, a full-page PNG under
build/test-artifacts/screenshots/. Playwright never downloads a browser here: a missing
Chromium fails the tests with the command that installs it (``make test``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("LINEAGE_CHROMIUM", "/usr/bin/chromium")
#: Without the background-networking flags Chromium reaches out to Google hosts (updates,
#: sync, field trials) and logs their failures.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions"]


@dataclass
class Visit:
    """A loaded page and what happened while it loaded."""

    page: Any
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def goto(self, url: str) -> None:
        """Follow to another page of the same origin (a link, a query)."""
        self.page.goto(url, wait_until="load")
        self.url = url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `make test` (it installs "
                    "Debian's chromium and chromium-driver) or `apt-get install chromium "
                    "chromium-driver`", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: run `make test` (installs the dev extras)", pytrace=False)
    # Playwright's launch gives every browser a fresh temporary profile (user-data-dir).
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str], Visit]]:
    contexts: list[Any] = []

    def open_(url: str) -> Visit:
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      service_workers="block")
        contexts.append(context)
        page = context.new_page()
        visit = Visit(page, url)
        own = url if url.startswith("file:") else _origin(url)

        def route(r: Any) -> None:
            target = r.request.url
            if target == own if own.startswith("file:") else _origin(target) == own:
                r.continue_()
            else:
                visit.requests.append(target)
                r.abort()

        context.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
        page.on("pageerror", lambda e: visit.console_errors.append(f"page error: {e}"))
        page.goto(url, wait_until="load")
        return visit

    yield open_
    for context in contexts:
        context.close()
