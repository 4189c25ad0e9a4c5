import psycopg
import pytest
from django.db import connection

from llm_routing import complete, state
from llm_routing.models import ProviderState

HI = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are a PostgreSQL matter"
)


def forget_prepared_statements() -> None:
    # psycopg sees the DEALLOCATE ALL and empties its own cache of names too.
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("DEALLOCATE ALL")


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_reserve_update_is_prepared_once_it_runs_often(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="llm7", daily_quotas={"llm7": {"requests": 100}})
    forget_prepared_statements()
    threshold = connection.connection.prepare_threshold
    assert threshold is not None, "config/settings.py sets DB_PREPARE_THRESHOLD (default 5)"
    for _ in range(threshold + 1):
        assert complete(tenant=tenant, messages=HI).provider == "llm7"
    reserves = [s for s in prepared_statements() if "requests_used = CASE" in s]
    assert len(reserves) == 1
    # Prepared or not, every request was counted once.
    row = ProviderState.objects.get(tenant=tenant, provider="llm7")
    assert row.requests_used == threshold + 1


def test_with_preparation_off_nothing_is_prepared_and_counting_still_works(
    make_tenant, stub_provider
):
    tenant = make_tenant(preferred_provider="llm7", daily_quotas={"llm7": {"requests": 100}})
    forget_prepared_statements()
    raw = connection.connection
    previous, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        allowance = state.Allowance(100, None, 0.8)
        for _ in range(8):
            reservation = state.reserve(tenant_id=tenant.pk, provider="llm7", allowance=allowance)
            assert isinstance(reservation, state.Reservation)
        assert reservation.requests_used == 8
        assert not [s for s in prepared_statements() if "requests_used = CASE" in s]
    finally:
        raw.prepare_threshold = previous
