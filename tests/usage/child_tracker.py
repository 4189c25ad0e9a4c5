"""Run by tests in a child process: track N records, then exit normally or wait to be killed.

    python child_tracker.py <exit|spill-and-wait> <tenant id> <count>
"""

import sys
import time
import uuid

import django

django.setup()

import usage  # noqa: E402


def main() -> None:
    mode, tenant_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(count):
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
    if mode == "exit":
        return  # no flush(): the atexit hook must write (or spill) everything
    tracker = usage.get_tracker()
    deadline = time.monotonic() + 60
    while tracker.stats()["spilled"] < count - tracker.memory_limit and time.monotonic() < deadline:
        time.sleep(0.01)
    print(tracker.stats()["spilled"], flush=True)
    time.sleep(600)  # records still in memory here die with the SIGKILL


if __name__ == "__main__":
    main()
