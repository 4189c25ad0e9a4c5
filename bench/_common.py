"""Shared set-up for the usage benchmarks: a PostgreSQL database of their own, Django, timing.

BENCH_DATABASE_URL picks the server (default postgres://postgres@127.0.0.1:5432); each
script names its database, created and migrated on first use and kept between runs so the
5M-row history is loaded once.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")


def setup(database: str) -> None:
    """Point Django at ``database`` on the bench server (creating it), then migrate."""
    import psycopg

    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"{SERVER.rstrip('/')}/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    with psycopg.connect(f"{SERVER.rstrip('/')}/postgres", autocommit=True) as admin:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = admin.execute(query, [database]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{database}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median_time(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t, _ = timed(fn)
        times.append(t)
    return statistics.median(times), times


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")
