"""The Operations screen in a real browser (headless Chromium): a superuser opens it with
several snapshots stored, every chart draws lines from them, and a screenshot is kept."""

from __future__ import annotations

import shutil
import struct

import pytest
from django.urls import reverse

from tests.screens.browser import ARTIFACTS, screenshot
from tests.screens.test_browser_journey import _log_in, _wait_for
from tests.screens.test_operations_screen import seed_snapshots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ("chart-track", "chart-router", "chart-sizes", "chart-refresh", "chart-lag",
          "chart-caches", "chart-tracker")


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_a_superuser_sees_every_trend_drawn(chromium, live_server, superuser, tmp_path):
    from selenium.webdriver.common.by import By

    seed_snapshots(count=8)
    _log_in(chromium, live_server, superuser)
    chromium.get(live_server.url + reverse("screens:operations") + "?period=7d")
    _wait_for(chromium, "#ops-summary", "8 snapshots")
    for chart in CHARTS:
        _wait_for(chromium, f"[data-chart={chart}][data-drawn=true] svg")
        lines = chromium.find_elements(By.CSS_SELECTOR, f"[data-chart={chart}] > svg path.line")
        assert lines, f"{chart}: no line drawn"
        assert all(len(line.get_attribute("d")) > 20 for line in lines), chart
        markers = chromium.find_elements(By.CSS_SELECTOR, f"[data-chart={chart}] > svg .marker")
        assert len(markers) >= 7, f"{chart}: {len(markers)} points"
    legend = chromium.find_element(By.CSS_SELECTOR, "[data-chart=chart-caches] .chart-legend")
    assert "Decrypted keys" in legend.text
    assert "91.6 MB" in chromium.find_element(By.ID, "table-growth").text  # 96e6 bytes a day

    path = screenshot(chromium, "operations", directory=tmp_path)
    width, height = _png_size(path)
    assert width == 1280 and height > 900
    assert path.stat().st_size > 50_000  # drawn charts, not a blank page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / "operations.png")  # for people to look at
