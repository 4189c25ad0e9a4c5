"""The seed's third phase in a real browser: keys, provider choice, dashboard.

One operator journey against the live server and the loopback stub provider: log in,
type a key, test it, save it, test the stored key, pick another provider and model, send
real requests through the router, and read the dashboard drawn from the rows they left.
Screenshots of the three screens land in test-artifacts/screens/.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

import llm_routing
from tenants.models import Tenant
from tests.screens.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(driver, live_server, user):
    from selenium.webdriver.common.by import By

    driver.get(live_server.url + reverse("admin:login"))
    driver.find_element(By.NAME, "username").send_keys(user.username)
    driver.find_element(By.NAME, "password").send_keys("pw-" + user.username)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # Wait for the signed-in page: navigating away while the login POST is still in
    # flight cancels it, and the next screen would then bounce to the login form.
    _wait_for(driver, "#logout-form")


def _wait_for(driver, css: str, text: str = ""):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if text in element.text:
                return element
        return False

    return WebDriverWait(driver, 30).until(found)  # generous: CI machines can be busy


def test_an_operator_manages_keys_providers_and_reads_the_dashboard(
    chromium, live_server, staff_a, tenant_a, stub_provider, canary_keys, settings
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    settings.USAGE_TRACKER_SYNC = True
    stub_provider.accept_key("groq", canary_keys["groq"])
    stub_provider.accept_key("openrouter", canary_keys["openrouter"])
    _log_in(chromium, live_server, staff_a)

    # Keys: a typed key is tested in place, nothing is saved by the test.
    chromium.get(live_server.url + reverse("screens:keys", args=[tenant_a.pk]))
    _wait_for(chromium, "#id_key_groq").send_keys(canary_keys["groq"])
    chromium.find_element(By.CSS_SELECTOR, "button.test-button[data-provider=groq]").click()
    result = _wait_for(chromium, "#key-row-groq .test-result.is-ok")
    assert "accepted" in result.text
    assert Tenant.objects.get(pk=tenant_a.pk).llm_tokens == {}
    # A refused key shows its failure beside its own row.
    chromium.find_element(By.ID, "id_key_llm7").send_keys(canary_keys["llm7"])
    chromium.find_element(By.CSS_SELECTOR, "button.test-button[data-provider=llm7]").click()
    assert "refused" in _wait_for(chromium, "#key-row-llm7 .test-result.is-bad").text
    chromium.find_element(By.ID, "id_key_llm7").clear()

    # Save, then test the stored key: the status column records the test.
    chromium.find_element(By.ID, "id_key_openrouter").send_keys(canary_keys["openrouter"])
    chromium.find_element(By.NAME, "save").click()
    _wait_for(chromium, "ul.messagelist", "Groq: key set")
    assert "Configured" in chromium.find_element(By.ID, "key-row-openrouter").text
    chromium.find_element(By.CSS_SELECTOR, "button.test-button[data-provider=openrouter]").click()
    _wait_for(chromium, "#key-row-openrouter .key-last-test", "Passed")
    assert Tenant.objects.get(pk=tenant_a.pk).llm_token_status["openrouter"]["test_valid"]
    for key in canary_keys.values():
        assert key not in chromium.page_source
    screenshot(chromium, "keys")

    # Providers: switch to OpenRouter with another model; the saved choice is highlighted.
    chromium.get(live_server.url + reverse("screens:providers", args=[tenant_a.pk]))
    chromium.find_element(By.CSS_SELECTOR, "label[for=id_preferred_provider_1]").click()
    Select(chromium.find_element(By.ID, "id_model_openrouter")).select_by_value(
        "openai/gpt-4o-mini"
    )
    chromium.find_element(By.NAME, "save").click()
    _wait_for(chromium, "ul.messagelist", "Provider settings saved")
    assert "Current" in chromium.find_element(By.ID, "card-openrouter").text
    config = Tenant.objects.get(pk=tenant_a.pk).config
    assert (config.preferred_provider, config.model_for("openrouter")) == (
        "openrouter",
        "openai/gpt-4o-mini",
    )
    screenshot(chromium, "providers")
    # Bad input: the error sits beside its field and nothing changes.
    threshold = chromium.find_element(By.ID, "id_quota_threshold_percent")
    threshold.clear()
    threshold.send_keys("250")
    chromium.find_element(By.NAME, "save").click()
    assert "100" in _wait_for(chromium, "#id_quota_threshold_percent_error").text
    assert Tenant.objects.get(pk=tenant_a.pk).config.quota_threshold == config.quota_threshold
    screenshot(chromium, "providers-error")

    # Real traffic through the router leaves the usage rows the dashboard draws.
    for i in range(12):
        llm_routing.complete(tenant=tenant_a.pk, messages=[{"role": "user", "content": f"hi {i}"}])
    # A provider error and a rate limit: the router fails over, each attempt leaves a row.
    stub_provider.enqueue("openrouter", 503)
    llm_routing.complete(tenant=tenant_a.pk, messages=[{"role": "user", "content": "503"}])
    stub_provider.enqueue("openrouter", 429, headers={"retry-after": "30"})
    llm_routing.complete(tenant=tenant_a.pk, messages=[{"role": "user", "content": "429"}])

    chromium.get(live_server.url + reverse("screens:usage", args=[tenant_a.pk]))
    _wait_for(chromium, ".chart[data-drawn=true] svg")
    columns = chromium.find_elements(By.CSS_SELECTOR, "[data-chart=chart-requests] svg rect")
    assert columns, "the requests chart drew no columns"
    legend = chromium.find_element(By.CSS_SELECTOR, "[data-chart=chart-requests]").text
    assert "Rate limited (429)" in legend and "Provider error" in legend
    token_bars = chromium.find_element(By.CSS_SELECTOR, "[data-chart=chart-tokens]").text
    assert "openrouter · openai/gpt-4o-mini" in token_bars
    assert "groq ·" in token_bars
    totals = chromium.find_element(By.ID, "table-totals").text
    assert "openai/gpt-4o-mini" in totals
    screenshot(chromium, "dashboard")
    screenshot(chromium, "dashboard-dark", dark=True)
