"""The window end a reserve reads back (raw SQL: an aware datetime on PostgreSQL, text on
SQLite) is what the process's own view compares with "now" during an outage."""

from llm_routing import fallback, state

ALLOWANCE = state.Allowance(requests=100, tokens=None, threshold=1.0)


def test_routing_on_the_local_view_after_a_reserve_compares_aware_times(
    make_tenant, routing_clock, monkeypatch
):
    tenant = make_tenant(keys=("llm7",))
    fallback.forget()
    first = state.reserve(tenant_id=tenant.pk, provider="llm7", allowance=ALLOWANCE)
    assert isinstance(first, state.Reservation) and not first.local
    known = fallback._known[(tenant.pk, "llm7")]
    assert known.window_ends_at.tzinfo is not None
    fallback.mark_down("test: the shared state is away")
    monkeypatch.setattr(fallback, "PROBE_SECONDS", 3600)
    try:
        local = state.reserve(tenant_id=tenant.pk, provider="llm7", allowance=ALLOWANCE)
    finally:
        fallback.forget()
    assert isinstance(local, state.Reservation) and local.local
    assert local.requests_used == first.requests_used + 1
