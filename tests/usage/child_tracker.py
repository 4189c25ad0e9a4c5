"""Run by tests in a child process: track records, then exit normally or wait to be killed.

    python child_tracker.py exit <tenant id> <count>
        track <count> records and exit (the atexit hook writes or spills them); the last
        stdout line is the tracker's counters as JSON, printed after that hook ran.
    python child_tracker.py spill-and-wait <tenant id> <count>
        track <count> records, print how many were spilled, wait to be killed.
    python child_tracker.py flush <tenant id> <count> <seconds>
        track <count> records, print the counters as JSON after flush(<seconds>), then exit
        as in ``exit``.
    python child_tracker.py stream <tenant id> <report file>
        track about 1,000 records a second until killed; after each group of records, append
        "<last index> <time.monotonic()>" to the report file (every record up to that index
        was tracked by then).

Record i has request id uuid5(NAMESPACE_OID, "<tenant id>-<i>").
"""

import atexit
import json
import sys
import time
import uuid

import django

django.setup()

import usage  # noqa: E402

STREAM_GROUP = 5  # records tracked between two report lines


def _track(tenant_id: str, i: int) -> None:
    usage.track(
        tenant_id=tenant_id,
        provider="groq",
        model="llama-3.3-70b-versatile",
        status="success",
        request_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{tenant_id}-{i}"),
        attempt=1,
        prompt_tokens=10,
        completion_tokens=5,
    )


def _print_counters() -> None:
    stats = usage.get_tracker().stats()
    print(json.dumps({k: v for k, v in stats.items() if k != "last_flush_at"}), flush=True)


def _stream(tenant_id: str, report_path: str) -> None:
    with open(report_path, "a", encoding="utf-8") as report:
        i = 0
        deadline = time.monotonic() + 300  # a safety net: the test kills the process long before
        while time.monotonic() < deadline:
            for _ in range(STREAM_GROUP):
                _track(tenant_id, i)
                i += 1
            # A SIGKILL keeps what reached the kernel: write() is enough, no fsync needed.
            report.write(f"{i - 1} {time.monotonic()}\n")
            report.flush()
            time.sleep(0.005)


def main() -> None:
    mode, tenant_id = sys.argv[1], sys.argv[2]
    if mode == "stream":
        _stream(tenant_id, sys.argv[3])
        return
    count = int(sys.argv[3])
    if mode in ("exit", "flush"):
        atexit.register(_print_counters)  # registered first, so it runs after the tracker's hook
    for i in range(count):
        _track(tenant_id, i)
    if mode == "exit":
        return  # no flush(): the atexit hook must write (or spill) everything
    if mode == "flush":
        usage.flush(timeout=float(sys.argv[4]))
        _print_counters()
        return
    tracker = usage.get_tracker()
    deadline = time.monotonic() + 60
    while tracker.stats()["spilled"] < count - tracker.memory_limit and time.monotonic() < deadline:
        time.sleep(0.01)
    print(tracker.stats()["spilled"], flush=True)
    time.sleep(600)  # records still in memory here die with the SIGKILL


if __name__ == "__main__":
    main()
