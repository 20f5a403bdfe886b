"""Where Chromium is and how it is started headless: one place for the browser tests
(tests/browser.py), the live view's benchmark (bench/ui.py) and the docs' screenshots
(docs/screenshots.py). No pytest here: the scripts import it too."""

from __future__ import annotations

import os
from typing import Final

CHROMIUM: Final = os.environ.get("MOCKSERVER_CHROMIUM", "/usr/bin/chromium")
"""Debian's chromium (Playwright's own browser download needs network access CI does not
give); MOCKSERVER_CHROMIUM names another."""
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
