"""Fixtures for the usage ledger tests: tenants, a tracker of the test's own, helpers."""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tenants.models import Tenant
from usage import catalogue, pricing, records, writer
from usage.models import ModelUsageStat, Price


@pytest.fixture(autouse=True)
def _fresh_caches():
    writer.forget_model_ids()
    pricing.price_book.invalidate()
    yield
    writer.forget_model_ids()
    pricing.price_book.invalidate()


@pytest.fixture
def make_tenant(db):
    def make(slug: str | None = None, tz: str = "UTC") -> Tenant:
        slug = slug or f"t-{uuid.uuid4().hex[:10]}"
        return Tenant.objects.create(name=slug.title(), slug=slug, timezone=tz)

    return make


@pytest.fixture
def catalogue_prices(db):
    """Transactional tests flush the database; they put the shipped catalogue back after."""
    yield
    start = datetime.fromisoformat(catalogue.CATALOGUE_DATE).replace(tzinfo=UTC)
    Price.objects.bulk_create(
        [
            Price(provider=p, model=m, input_per_million=Decimal(i), output_per_million=Decimal(o),
                  effective_from=start, source=catalogue.CATALOGUE_SOURCE)
            for p, models in catalogue.PRICES.items()
            for m, (i, o) in models.items()
        ],
        ignore_conflicts=True,
    )


def wait_for(condition, *, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds (no blind sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def track_args(tenant_id, index: int = 0, **overrides) -> dict:
    args = {
        "tenant_id": tenant_id,
        "provider": "groq",
        "model": "llama-3.3-70b-versatile",
        "status": "success",
        "request_id": uuid.uuid5(uuid.NAMESPACE_OID, f"{tenant_id}-{index}"),
        "attempt": 1,
        "prompt_tokens": 10 + index % 7,
        "completion_tokens": 5,
        "latency_ms": 100 + index % 900,
    }
    args.update(overrides)
    return args


def raw_call(tenant_id, index: int = 0, **overrides) -> tuple:
    """What ``usage.track`` hands its tracker for ``track_args(tenant_id, index)``."""
    return records.pack(**track_args(tenant_id, index, **overrides))


def rows_of(tenant_id) -> list[ModelUsageStat]:
    return list(ModelUsageStat.objects.filter(tenant_id=tenant_id).select_related("model"))


def database_url() -> str:
    """A URL for the test database, for child processes."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONPATH=str(django_settings.BASE_DIR),
        FIELD_ENCRYPTION_KEYS=",".join(django_settings.FIELD_ENCRYPTION_KEYS),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


PYTHON = sys.executable
