"""Run by the fault suite in a child process: threads route requests for a while, each
recording what every call returned, then the process exits normally.

    python routing_child.py <results file> <seconds> <threads> <slug> [<slug> ...]

Thread i routes for slugs[i % len(slugs)]. Once every thread has made a call the child
creates ``<results file>.ready``; it stops when ``<results file>.stop`` appears (or after
<seconds>). The results file gets one JSON object:
{"calls": [[thread, slug, started (epoch s), outcome, detail, skipped reasons], ...],
 "thread_db_ok": [...], "down_at_end": bool, "fallback": {...}}. An outcome is the
provider that answered, "RoutingError", or "raised:<exception type>" (never expected).
"""

import json
import sys
import threading
import time
from pathlib import Path

import django

django.setup()

from llm_routing import RoutingError, complete, fallback, routing_view  # noqa: E402
from tenants.models import Tenant  # noqa: E402

HELLO = [{"role": "user", "content": "hello"}]


def main() -> None:
    path, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    slugs = sys.argv[4:]
    calls, thread_db_ok = [], []
    lock = threading.Lock()
    stop_at = time.time() + seconds
    ready, stop = Path(path + ".ready"), Path(path + ".stop")
    all_started = threading.Barrier(threads, action=ready.touch)

    def worker(index: int) -> None:
        slug = slugs[index % len(slugs)]
        first = True
        while time.time() < stop_at and not stop.exists():
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
            if first:
                first = False
                all_started.wait()
        # No close_old_connections(): after routing, this thread's connection must work.
        try:
            Tenant.objects.filter(slug=slug).exists()
            ok = True
        except Exception as exc:  # noqa: BLE001
            ok = f"{type(exc).__name__}: {exc}"[:300]
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
                "views": sorted(str(k) for k in routing_view._views),
                "refs": sorted(routing_view._refs),
            },
            handle,
        )


if __name__ == "__main__":
    main()
