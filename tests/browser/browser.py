"""Debian's Chromium driven by Playwright for the web UI's browser tests, watching every page for console
errors, failed scripts and requests to other hosts; screenshots of the visited pages when a test fails.

Never a browser downloaded by a test tool (that does not work on these machines): CHROMIUM_PATH, default
/usr/bin/chromium (`apt-get install -y chromium`). Without it the tests skip with that reason, unless
REQUIRE_BROWSER is set (CI sets it), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from promptopt.env import BASE_DIR

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", BASE_DIR / "artifacts" / "browser"))


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)"
    if os.environ.get("REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageWatch:
    """What the browser reported while pages of `origin` were open: it must stay empty."""

    origin: str
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error on {page.url}: {error}"))
        page.on("request", self._request)
        page.on("requestfailed", lambda request: self._failed(request, page))
        page.on("framenavigated", lambda frame: frame == page.main_frame and self.visited.append(frame.url))

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({message.location.get('url', '')})")

    def _request(self, request) -> None:
        if not (request.url.startswith(self.origin) or request.url.startswith(("data:", "blob:"))):
            self.problems.append(f"request to another host: {request.url}")

    def _failed(self, request, page) -> None:
        # Leaving a page while its poll is in flight aborts the poll: that is the browser, not the app.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} ({request.failure}) on {page.url}")


@contextmanager
def chromium_page(
    origin: str, *, name: str, viewport: dict[str, int] | None = None
) -> Iterator[tuple[object, PageWatch]]:
    """A fresh browser page and its watch; on an exception, screenshots of the page as it was and of every
    page visited are written to ARTIFACTS/<name>/ before the exception goes on."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        watch = PageWatch(origin)
        watch.attach(page)
        try:
            yield page, watch
        except BaseException:
            _screenshots(page, watch, ARTIFACTS / name)
            raise
        finally:
            browser.close()


def _screenshots(page, watch: PageWatch, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(folder / "00-at-failure.png"), full_page=True)
        seen = list(dict.fromkeys(url for url in watch.visited if url.startswith(watch.origin)))
        for number, url in enumerate(seen, start=1):
            page.goto(url)
            slug = re.sub(r"[^a-z0-9]+", "-", url.removeprefix(watch.origin).lower()).strip("-") or "root"
            page.screenshot(path=str(folder / f"{number:02d}-{slug[:60]}.png"), full_page=True)
        (folder / "problems.txt").write_text("\n".join(watch.problems) or "none", encoding="utf-8")
    except Exception as error:  # a failed screenshot must not hide the test's own failure
        (folder / "screenshot-error.txt").write_text(repr(error), encoding="utf-8")
