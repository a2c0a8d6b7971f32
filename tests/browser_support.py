"""Real headless Chromium for the page tests (Debian's chromium and chromium-driver, driven by
Selenium), a forward from the host's loopback to the agent in the lab namespace, and
screenshots kept as test artifacts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from lab import forward

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("PANTAU_ARTIFACTS")
                 or Path(__file__).resolve().parent.parent / "test-artifacts")
# The probe's flags: headless as root, and no background calls to hosts this machine cannot
# reach (without them Chromium keeps trying, many connections at a time).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-quic", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
         "--lang=id-ID")
T = TypeVar("T")


def require_chromium() -> None:
    """Skip without Chromium and its driver; in CI (CI=true) fail instead."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        message = f"browser tests need {' and '.join(missing)} (Debian chromium, chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 900) -> Iterator[ChromiumDriver]:
    """A headless Chromium with an empty profile; quit (its driver stopped by PID) at the end."""
    require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(90)
        yield driver
    finally:
        driver.quit()


class Screens:
    """Screenshots named by step, in ARTIFACTS/<folder>; `taken` lists them."""

    def __init__(self, driver: ChromiumDriver, folder: str) -> None:
        self.driver = driver
        self.folder = ARTIFACTS / folder
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.taken: list[Path] = []

    def take(self, name: str) -> Path:
        """The whole page, beyond the window's height (Chromium's DevTools capture), as PNG."""
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000),
                "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        self.taken.append(path)
        return path


def wait_for(driver: WebDriver, what: Callable[[WebDriver], T], timeout: float = 30) -> T:
    """`what(driver)` once truthy; a page still loading (stale or missing elements) is waited
    out, not an error."""
    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=(
        StaleElementReferenceException, NoSuchElementException)).until(what)


def element(driver: WebDriver, css: str, timeout: float = 30) -> WebElement:
    return wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, css), timeout)


def body_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


class Forward:
    """A forward from 127.0.0.1:<port> here to 127.0.0.1:<target> in the lab namespace, on
    its own event loop in a thread (Selenium and the test are synchronous)."""

    def __init__(self, namespace: str, target_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            forward.serve(namespace, 0, target_port), self.loop)
        self.server: Any = future.result(timeout=10)
        self.port = int(self.server.sockets[0].getsockname()[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        async def shut() -> None:
            self.server.close()
            await self.server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def settle(seconds: float) -> None:
    """A short pause for a page's own timers (the SLA countdown ticks each second)."""
    time.sleep(seconds)
