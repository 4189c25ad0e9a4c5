"""Run by the budget concurrency test in a child process: threads route requests for one
tenant with a hard budget, each recording what every call returned, then the process
exits normally (its budget holds and usage rows are written at exit).

    python budget_child.py <results file> <threads> <requests per thread> <slug> <max_tokens,...>

Thread i sends its requests with max_tokens cycling through the list from position i. The
results file gets {"calls": [[thread, max_tokens, outcome, detail], ...]}; an outcome is
"ok", "budget" (BudgetExceeded), "routing" (another RoutingError) or "raised:<type>".
"""

import json
import sys
import threading

import django

django.setup()

from llm_routing import BudgetExceeded, RoutingError, complete  # noqa: E402

HELLO = [{"role": "user", "content": "hello"}]


def main() -> None:
    path, threads, requests, slug = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    sizes = [int(n) for n in sys.argv[5].split(",")]
    calls = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        start.wait()
        for n in range(requests):
            max_tokens = sizes[(index + n) % len(sizes)]
            try:
                complete(tenant=slug, messages=HELLO, max_tokens=max_tokens)
                row = [index, max_tokens, "ok", ""]
            except BudgetExceeded as exc:
                row = [index, max_tokens, "budget", exc.window]
            except RoutingError as exc:
                row = [index, max_tokens, "routing", exc.reason[:300]]
            except Exception as exc:  # noqa: BLE001 - what the test is looking for
                row = [index, max_tokens, f"raised:{type(exc).__name__}", str(exc)[:300]]
            with lock:
                calls.append(row)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with open(path, "w") as handle:
        json.dump({"calls": calls}, handle)


if __name__ == "__main__":
    main()
