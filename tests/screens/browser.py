"""The real-browser harness: headless Debian Chromium driven by selenium, no downloads.

Selenium is given both the browser and the driver path, so Selenium Manager never runs
and nothing is fetched from the network. Without Chromium the browser tests are skipped
with a message that says how to install it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "screens"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isfile(name) else None)
        if found:
            return found
    return None


def start_chromium():
    """A fresh headless Chromium (own profile directory), or a pytest skip explaining why not."""
    browser = _find("chromium", "/usr/bin/chromium", "chromium-browser")
    driver_path = _find("chromedriver", "/usr/bin/chromedriver")
    if not browser or not driver_path:
        pytest.skip(
            "browser tests need Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver); not found on this machine"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("browser tests need selenium: pip install -e '.[dev]'")
    profile = tempfile.mkdtemp(prefix="screens-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.implicitly_wait(0)
    return driver, profile


def screenshot(driver, name: str, *, dark: bool = False, directory: Path = ARTIFACTS) -> Path:
    """A full-page PNG in ``directory`` (by default test-artifacts/screens/, git-ignored),
    for people to look at.

    ``dark`` renders the page as a browser set to a dark colour scheme would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    scheme = "dark" if dark else "light"
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    height = driver.execute_script(
        "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
    )
    # Emulate a viewport as tall as the page so the capture holds all of it.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": min(int(height), 8000), "deviceScaleFactor": 1, "mobile": False},
    )
    path = directory / f"{name}.png"
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    return path
