"""Locks that keep two runs of a cron command apart, on any host sharing the database.

PostgreSQL: a session advisory lock (released when the session ends, even on a crash).
SQLite: an exclusive ``flock`` on a file beside the database (released when the process
dies). Either way, a second run gets ``False`` at once instead of waiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from pathlib import Path

from django.conf import settings
from django.db import connections


def lock_key(name: str) -> int:
    return zlib.crc32(f"usage:{name}".encode())


@contextlib.contextmanager
def command_lock(name: str, using: str = "default"):
    """``with command_lock("refresh_usage_summary") as acquired:``; never waits."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])
        return
    directory = Path(settings.BASE_DIR) / "var"
    directory.mkdir(exist_ok=True)
    database = Path(str(connection.settings_dict["NAME"])).name
    with open(directory / f"{database}.{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
