"""Record ids: UUIDs whose first 48 bits are the creation time in milliseconds (UUIDv7 layout).

Time-ordered ids keep the primary-key index appending at its right edge (dense pages, hot
cache) instead of splitting pages all over the tree as random UUIDs do; the 74 random bits
from the OS make a collision between processes as unlikely as with UUIDv4. os.urandom is
fork-safe, unlike the ``random`` module's shared state.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_AND_VARIANT = (0x7 << 76) | (0x2 << 62)
_RAND_B = (1 << 62) - 1


def record_id(ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7 for the millisecond ``ms`` since the epoch (now when None)."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    tail = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | _VERSION_AND_VARIANT
        | ((tail >> 62) & 0xFFF) << 64
        | tail & _RAND_B
    )
    return uuid.UUID(int=value)
