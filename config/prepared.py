"""Cursors whose statements PostgreSQL prepares: the one interface for the few statements
that run on every request, where parsing and planning cost more than running them.

Django's own cursors interpolate parameters on the client, so the server parses and plans
every statement again. A cursor from ``cursor()`` binds them on the server instead, and
psycopg prepares a statement once it has run ``prepare_threshold`` times on a connection
(config/settings.py, DB_PREPARE_THRESHOLD); the server then neither parses nor plans it
again. With the threshold off (Django's default, for transaction-mode poolers) nothing is
prepared and the statements run as they are, with the same results.

The benchmarks that need it: bench/router_overhead.py (the router's reserve UPDATE,
llm_routing/state.py: ~330 -> ~200 µs a call) and bench/gateway_overhead.py (the bearer-key
lookup, tenants/services.api_key_identify: planning its join cost ~0.45 ms a request).
Other databases get Django's own cursor.
"""

from __future__ import annotations

from typing import Any

import psycopg


def cursor(db: Any) -> Any:
    """A cursor for one hot statement, through Django's wrapper (thread checks, query
    logging, execute wrappers, error translation), on ``db`` (a connection wrapper)."""
    if db.vendor != "postgresql":
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw = psycopg.Cursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)
