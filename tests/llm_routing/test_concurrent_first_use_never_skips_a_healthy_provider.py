"""Many threads routing tenants' very first requests at once: each shared state row is
created once, and no healthy provider is skipped as "busy"."""

import threading

import pytest
from django.db import connection

from llm_routing import RoutingError, complete

pytestmark = pytest.mark.django_db(transaction=True)

THREADS, TENANTS = 16, 8


def test_threads_racing_to_first_requests_all_reach_the_only_provider(
    make_tenant, stub_provider
):
    slugs = [
        make_tenant(slug=f"race-{i}", keys=("llm7",), preferred_provider="llm7").slug
        for i in range(TENANTS)
    ]
    barrier = threading.Barrier(THREADS)
    results, failures = [], []

    def worker():
        barrier.wait()
        for slug in slugs:  # every tenant's first use is a race between all threads
            try:
                results.append(
                    complete(tenant=slug, messages=[{"role": "user", "content": "hi"}]).provider
                )
            except RoutingError as exc:
                failures.append(exc.reason)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert results == ["llm7"] * THREADS * TENANTS
    assert stub_provider.chat_requests("llm7") == THREADS * TENANTS
