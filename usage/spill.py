"""Spill files: where records go when the database stays away longer than memory allows.

One file per process (``usage-<host>-<pid>-<start>.jsonl`` in settings.USAGE_SPILL_DIR),
one JSON line per record, fsync'd before the records count as spilled. A file whose process
is gone is claimed by renaming it (atomic, so two replayers never take the same file) and
replayed; records keep their ids, so a file replayed twice still writes each record once.
A torn last line (the process died mid-write) is skipped: that record never counted as
spilled.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from usage.records import Record, from_json, to_json

logger = logging.getLogger("usage.spill")

HOST = socket.gethostname().replace("-", "_")[:40] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SpillFile:
    """This process's spill file, opened on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"usage-{HOST}-{os.getpid()}-{time.time_ns()}.jsonl"
        self._file = None

    def append(self, records: list[Record]) -> None:
        """Append and fsync; raises OSError when the disk refuses (nothing counts then)."""
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            _fsync_dir(self.directory)
        self._file.write("".join(to_json(r) + "\n" for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def has_records(self) -> bool:
        return self._file is not None

    def hand_over(self) -> Path | None:
        """Close the file and claim it for replay by this process; a new one starts on demand."""
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        claimed = self.directory / f"replaying-{HOST}-{os.getpid()}-{self.path.name}"
        os.replace(self.path, claimed)
        self.path = self.directory / f"usage-{HOST}-{os.getpid()}-{time.time_ns()}.jsonl"
        return claimed

    def forget_after_fork(self) -> None:
        # The parent owns the open file; the child starts a file of its own when needed.
        self._file = None
        self.path = self.directory / f"usage-{HOST}-{os.getpid()}-{time.time_ns()}.jsonl"


def set_aside(directory: Path, record: Record) -> None:
    """Append a record the database refuses to ``refused-<host>-<pid>.jsonl``, for a human
    (never replayed); best effort."""
    path = Path(directory) / f"refused-{HOST}-{os.getpid()}.jsonl"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(to_json(record) + "\n")
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _owner_pid(name: str) -> tuple[str, int] | None:
    # usage-<host>-<pid>-<ns>.jsonl or replaying-<host>-<pid>-<original name>
    parts = name.split("-")
    if len(parts) < 4 or parts[0] not in ("usage", "replaying"):
        return None
    try:
        return parts[1], int(parts[2])
    except ValueError:
        return None


def orphaned_files(directory: Path) -> list[Path]:
    """Spill files on this host whose process (or whose replayer) is gone."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir()):
        owner = _owner_pid(path.name)
        if owner and owner[0] == HOST and owner[1] != os.getpid() and not _pid_alive(owner[1]):
            found.append(path)
    return found


def claim(path: Path) -> Path | None:
    """Rename an orphaned file to this process's name; None if another process got it."""
    original = path.name
    if original.startswith("replaying-"):
        original = original.split("-", 3)[3]
    claimed = path.with_name(f"replaying-{HOST}-{os.getpid()}-{original}")
    try:
        os.replace(path, claimed)
    except FileNotFoundError:
        return None
    return claimed


def read_records(path: Path) -> Iterator[Record]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith("\n"):
                logger.warning("usage spill %s: torn last line %d skipped", path.name, number)
                break
            try:
                yield from_json(line)
            except (ValueError, TypeError, IndexError):
                logger.error("usage spill %s: line %d is not a record, skipped", path.name, number)


def replay_file(
    path: Path, write: Callable[[list[Record]], int], batch: int = 5000
) -> tuple[int, int]:
    """Write every record of a claimed file, then delete it. Returns (records, newly written).

    Raises whatever ``write`` raises (the database is down): the file stays, claimed by this
    process, and is picked up again once this process is gone or by the next replay here.
    """
    seen = written = 0
    chunk: list[Record] = []
    for record in read_records(path):
        chunk.append(record)
        if len(chunk) >= batch:
            written += write(chunk)
            seen += len(chunk)
            chunk = []
    if chunk:
        written += write(chunk)
        seen += len(chunk)
    path.unlink()
    return seen, written


def replay_orphans(directory: Path, write: Callable[[list[Record]], int]) -> tuple[int, int, int]:
    """Claim and replay every orphaned spill file. Returns (files, records, newly written)."""
    files = records = written = 0
    for path in orphaned_files(directory):
        claimed = claim(path)
        if claimed is None:
            continue
        seen, new = replay_file(claimed, write)
        files, records, written = files + 1, records + seen, written + new
        logger.info("usage spill %s replayed: %d records, %d new", path.name, seen, new)
    return files, records, written
