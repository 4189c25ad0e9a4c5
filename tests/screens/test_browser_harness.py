"""The browser-test harness: a machine without Chromium skips, with install advice."""

from __future__ import annotations

import pytest

from tests.screens import browser


def test_without_chromium_the_browser_tests_skip_and_say_what_to_install(monkeypatch):
    monkeypatch.setattr(browser, "_find", lambda *names: None)

    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium chromium-driver"):
        browser.start_chromium()

