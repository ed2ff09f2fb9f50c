"""A real headless Chromium for the tests of HTML pages (Debian's chromium and chromium-driver,
driven by selenium).

Chromium runs with a proxy that goes nowhere, so a request to any URL would fail and show up in
the console and in the performance log besides being listed there. The ``browser`` fixture (one
Chromium for the whole session) lives in conftest.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (make test installs them)",
)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--proxy-server=127.0.0.1:9",
    "--window-size=1280,1000",
)


def start_browser() -> Iterator:
    """A Chromium session, quit when the generator closes."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, path: Path) -> dict:
    """Load ``path``; return the console messages and the URLs of every request made, but for
    inline ``data:`` images (matplotlib draws a colour bar as one)."""
    browser.get(path.resolve().as_uri())
    console = browser.get_log("browser")
    events = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    requests = [
        event["params"]["request"]["url"]
        for event in events
        if event["method"] == "Network.requestWillBeSent"
        and not event["params"]["request"]["url"].startswith("data:")
    ]
    return {"console": console, "requests": requests}
