"""pytest fixtures for the stub provider (loaded by tests/conftest.py via pytest_plugins).

``stub_provider``: one loopback server per test session, reset before each test, with
every built-in provider's base URL pointed at it. ``routing_clock``: a ManualClock the
router reads instead of the wall clock.
"""

from __future__ import annotations

import datetime as dt

import pytest

from llm_routing import clock
from llm_routing.stub.server import PROVIDERS, StubProvider


@pytest.fixture(scope="session")
def _stub_provider_server():
    stub = StubProvider().start()
    yield stub
    stub.stop()


@pytest.fixture
def stub_provider(_stub_provider_server, settings):
    from llm_routing import routing_view

    stub = _stub_provider_server
    stub.reset()
    for provider in PROVIDERS:
        setattr(settings, f"{provider.upper()}_BASE_URL", stub.base_url(provider))
    routing_view.forget()
    yield stub
    stub.reset()
    routing_view.forget()


@pytest.fixture
def routing_clock():
    manual = clock.ManualClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    with clock.use_clock(manual):
        yield manual
