"""A real Chromium for the live view's and the reports' tests, driven by Playwright.

One browser per test module (launching costs about a second), not per session: Playwright's sync
API keeps its event loop marked as running in the thread while it is open, which would stop every
async test that runs after it in the same process; pytest closes a module's fixtures before the
next module's tests run. Each test gets a fresh context (cookies, storage) and page. Debian's
chromium is used (Playwright's own browser download needs network access CI does not give):
missing, the tests skip with the install command, or fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS

INSTALL: Final = "apt-get install -y chromium && pip install playwright"


def _missing(what: str) -> None:
    message = f"{what} is missing: {INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, headless, for the tests of one module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (the Python package)")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        _missing(f"chromium ({CHROMIUM})")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=CHROMIUM_ARGS,
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in a context of its own (no cookies from another test)."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()
