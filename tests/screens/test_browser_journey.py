"""The seed's third phase in a real browser: keys, provider choice, dashboard."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.screens.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(driver, live_server, user):
    from selenium.webdriver.common.by import By

    driver.get(live_server.url + reverse("admin:login"))
    driver.find_element(By.NAME, "username").send_keys(user.username)
    driver.find_element(By.NAME, "password").send_keys("pw-" + user.username)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def test_operator_saves_a_key_and_changes_provider_and_model(
    chromium, live_server, staff_a, tenant_a, canary_keys
):
    from selenium.webdriver.common.by import By

    _log_in(chromium, live_server, staff_a)
    chromium.get(live_server.url + reverse("screens:keys", args=[tenant_a.pk]))
    chromium.find_element(By.ID, "id_key_groq").send_keys(canary_keys["groq"])
    chromium.find_element(By.NAME, "save").click()
    row = chromium.find_element(By.ID, "key-row-groq")
    assert "Configured" in row.text
    assert canary_keys["groq"] not in chromium.page_source
    screenshot(chromium, "keys")

    chromium.get(live_server.url + reverse("screens:providers", args=[tenant_a.pk]))
    chromium.find_element(By.CSS_SELECTOR, "label[for=id_preferred_provider_2]").click()
    screenshot(chromium, "providers")
