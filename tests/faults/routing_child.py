"""Run by the fault suite in a child process: threads route requests for a while, each
recording what every call returned, then the process exits normally.

    python routing_child.py <results file> <seconds> <threads> <slug> [<slug> ...]

Thread i routes for slugs[i % len(slugs)]. The results file gets one JSON object:
{"calls": [[thread, slug, started (epoch s), outcome, detail, skipped reasons], ...],
 "thread_db_ok": [...], "down_at_end": bool, "fallback": {...}}. An outcome is the
provider that answered, "RoutingError", or "raised:<exception type>" (never expected).
"""

import json
import sys
import threading
import time

import django

django.setup()

from llm_routing import RoutingError, complete, fallback  # noqa: E402
from tenants.models import Tenant  # noqa: E402

HELLO = [{"role": "user", "content": "hello"}]


def main() -> None:
    path, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    slugs = sys.argv[4:]
    calls, thread_db_ok = [], []
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def worker(index: int) -> None:
        slug = slugs[index % len(slugs)]
        while time.time() < stop_at:
            started = time.time()
            try:
                result = complete(tenant=slug, messages=HELLO, max_tokens=8)
                skips = [s.reason for s in result.skipped]
                row = [index, slug, started, result.provider, "", skips]
            except RoutingError as exc:
                row = [index, slug, started, "RoutingError", exc.reason[:300],
                       [s.reason for s in exc.skipped]]
            except Exception as exc:  # noqa: BLE001 - what the suite is looking for
                row = [index, slug, started, f"raised:{type(exc).__name__}", str(exc)[:300], []]
            with lock:
                calls.append(row)
        # No close_old_connections(): after routing, this thread's connection must work.
        try:
            Tenant.objects.filter(slug=slug).exists()
            ok = True
        except Exception:  # noqa: BLE001
            ok = False
        with lock:
            thread_db_ok.append(ok)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with open(path, "w") as handle:
        json.dump(
            {
                "calls": calls,
                "thread_db_ok": thread_db_ok,
                "down_at_end": fallback.down(),
                "fallback": dict(fallback.stats),
            },
            handle,
        )


if __name__ == "__main__":
    main()
