"""Prometheus metrics of every process, defined once here (README, "Metrics").

A leaf: the router, the usage ledger and the endpoint import it; it imports none of them
at module level. Labels are bounded: provider, outcome, reason, kind, event, cache; never a
request, a user or a key. A tenant label exists only on ``llm_tenant_requests_total`` and
only for the slugs in ``settings.METRICS_TENANT_LABELS``.

Multiprocess: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before this module is imported,
i.e. in the server's environment), every process writes its figures to files in that
directory and ``exposition()`` adds up all of them, so the workers of ``uvicorn --workers
N`` report one sum. The server's start must point it at an EMPTY directory (files of an
earlier run would be added too). Unset: a plain registry of this process.

``settings.METRICS_ENABLED`` false: the recording functions return at once (the router
benchmark prints its overhead both ways).
"""

from __future__ import annotations

import atexit
import collections
import glob
import logging
import os
import threading
import time

from django.conf import settings
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry()

TRACK_SAMPLE_EVERY = 64
"""usage.track() times one call in this many (a power of two: usage/__init__.py masks)."""

_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0)

ROUTED = Counter(
    "llm_routed_requests", "Routed requests by the provider that answered ('none' when none "
    "did) and outcome (success, failed, stream_failed).", ["provider", "outcome"],
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "llm_attempts", "Provider calls by provider and outcome (success, rate_limited, timeout, "
    "error, auth_error, invalid_request, cancelled).", ["provider", "outcome"], registry=REGISTRY,
)
FAILOVERS = Counter(
    "llm_failovers", "Candidates routing moved past, by reason (rate_limited, transient, auth, "
    "context_length, quota, cooldown, key, other).", ["reason"], registry=REGISTRY,
)
TOKENS = Counter(
    "llm_tokens", "Tokens by provider and kind (prompt, completion).", ["provider", "kind"],
    registry=REGISTRY,
)
COST = Counter(
    "llm_cost_usd", "Known cost in USD of answered attempts, by provider (unknown costs "
    "count nothing).", ["provider"], registry=REGISTRY,
)
PROVIDER_LATENCY = Histogram(
    "llm_provider_latency_seconds", "Time of one provider call, request to full answer.",
    ["provider"], buckets=_CALL_BUCKETS, registry=REGISTRY,
)
TTFT = Histogram(
    "llm_time_to_first_token_seconds", "Streams: time from the request to the first content.",
    ["provider"], buckets=_CALL_BUCKETS, registry=REGISTRY,
)
OVERHEAD = Histogram(
    "llm_router_overhead_seconds", "Time a routed request spent in the router itself: the "
    "whole route minus provider calls and retry waits.", buckets=_OVERHEAD_BUCKETS,
    registry=REGISTRY,
)
TENANT_REQUESTS = Counter(
    "llm_tenant_requests", "Routed requests of the tenants listed in METRICS_TENANT_LABELS, by "
    "tenant slug and outcome.", ["tenant", "outcome"], registry=REGISTRY,
)
TRACKER_QUEUE = Gauge(
    "usage_tracker_queue_depth", "Usage records buffered in memory, not yet written (sum over "
    "live processes).", multiprocess_mode="livesum", registry=REGISTRY,
)
TRACKER_RECORDS = Counter(
    "usage_tracker_records", "Usage records by what the tracker did with them (written, "
    "spilled, replayed, dropped).", ["event"], registry=REGISTRY,
)
SUMMARY_REFRESH = Histogram(
    "usage_summary_refresh_duration_seconds", "Duration of one summary refresh.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0), registry=REGISTRY,
)
SUMMARY_ROWS = Counter(
    "usage_summary_refresh_rows", "Raw usage rows summarised by refreshes.", registry=REGISTRY,
)
SUMMARY_LAG = Gauge(
    "usage_summary_lag_seconds", "At the end of the last refresh: age of the newest raw row "
    "the summary does not include yet (0 when it includes all).",
    multiprocess_mode="mostrecent", registry=REGISTRY,
)
CACHE = Counter(
    "llm_cache_lookups", "Cache lookups by cache (routing_view, model_list, decrypted_key, "
    "api_key) and result (hit, miss).", ["cache", "result"], registry=REGISTRY,
)
TRACK_COST = Histogram(
    "usage_track_caller_seconds", "Time usage.track() cost its caller, measured on one call "
    f"in {TRACK_SAMPLE_EVERY} (a sample: the count is calls / {TRACK_SAMPLE_EVERY}).",
    buckets=(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1),
    registry=REGISTRY,
)
BATCH_WRITE = Histogram(
    "usage_tracker_batch_write_seconds", "Time the usage tracker's writer took to store one "
    "batch (successful writes).", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5, 1.0, 2.5, 5.0, 10.0), registry=REGISTRY,
)

_TRACKER_EVENTS = ("written", "spilled", "replayed", "dropped")
for _event in _TRACKER_EVENTS:  # every series from the start: a scrape's set stays the same
    TRACKER_RECORDS.labels(_event)
_tracker_seen: dict[str, int] = {}
_tracker_synced = 0.0


def _failover_reason(outcome: str) -> str:
    if outcome == "rate_limited":
        return "rate_limited"
    if outcome in ("timeout", "error"):
        return "transient"
    if outcome == "auth_error":
        return "auth"
    if outcome == "invalid_request":
        return "context_length"  # the only rejection routing moves past
    return "other"


def _skip_reason(reason: str) -> str:
    if reason.startswith("cooling down"):
        return "cooldown"
    if "quota" in reason or reason.startswith("provider reports"):
        return "quota"
    if "key" in reason:
        return "key"
    if "context window" in reason:
        return "context_length"
    return "other"


def attempt(provider: str, settled, seconds: float, ttft_ms: int | None) -> None:
    """One settled provider call (the router's ``_Settled``: attempt.outcome, completion,
    error.partial, cost), ``seconds`` from request to answer, the stream's ttft if any."""
    if settings.METRICS_ENABLED:
        _queue((_attempt, provider, settled, seconds, ttft_ms))


def routed(tenant, provider: str | None, outcome: str, overhead: float, attempts=(),
           skipped=()) -> None:
    """One routed request at its end: who answered (None: nobody), the outcome, the
    router's own time in seconds, and its attempts and skipped candidates (for failovers)."""
    if settings.METRICS_ENABLED:
        _queue((_routed, tenant.slug, provider, outcome, overhead, attempts, skipped))


def cache(name: str, hit: bool) -> None:
    if settings.METRICS_ENABLED:
        _queue((_cache, name, hit))


# The hot path only queues (a deque append: thread-safe, well under a microsecond); a
# daemon thread of each process applies the queue to the metrics at least twice a second,
# and exposition() and flush() do at once. Writing each value where it happens (a lock and
# a memory-mapped file write each, in multiprocess mode) cost the router benchmark ~0.07 ms.
_pending: collections.deque = collections.deque()
_flusher_pid = 0
_FLUSH_SECONDS = 0.5


def _queue(item: tuple) -> None:
    _pending.append(item)
    if _flusher_pid != os.getpid():
        _start_flusher()


def _start_flusher() -> None:
    global _flusher_pid
    with _flusher_lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
        threading.Thread(target=_flush_forever, name="metrics-flush", daemon=True).start()
        atexit.register(flush)


_flusher_lock = threading.Lock()


def _flush_forever() -> None:
    while True:
        time.sleep(_FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # noqa: BLE001 - metrics must never stop a process
            logging.getLogger("config.metrics").exception("metrics: flush failed")


def flush() -> None:
    """Apply every queued record to the metrics now (tests; exposition; process exit)."""
    with _flush_lock:
        while True:
            try:
                item = _pending.popleft()
            except IndexError:
                break
            item[0](*item[1:])
        if time.monotonic() - _tracker_synced >= 1.0:
            _sync_tracker()


_flush_lock = threading.Lock()


def _attempt(provider, settled, seconds, ttft_ms) -> None:
    ATTEMPTS.labels(provider, settled.attempt.outcome).inc()
    PROVIDER_LATENCY.labels(provider).observe(seconds)
    if ttft_ms is not None:
        TTFT.labels(provider).observe(ttft_ms / 1000)
    tokens = settled.completion or (settled.error.partial if settled.error else None)
    if tokens is not None:
        if tokens.prompt_tokens:
            TOKENS.labels(provider, "prompt").inc(tokens.prompt_tokens)
        if tokens.completion_tokens:
            TOKENS.labels(provider, "completion").inc(tokens.completion_tokens)
    if settled.cost:
        COST.labels(provider).inc(float(settled.cost))


def _routed(slug, provider, outcome, overhead, attempts, skipped) -> None:
    ROUTED.labels(provider or "none", outcome).inc()
    OVERHEAD.observe(max(overhead, 0.0))
    for moved_past in attempts[:-1] if provider else attempts:
        FAILOVERS.labels(_failover_reason(moved_past.outcome)).inc()
    for skip in skipped:
        FAILOVERS.labels(_skip_reason(skip.reason)).inc()
    if slug in settings.METRICS_TENANT_LABELS:
        TENANT_REQUESTS.labels(slug, outcome).inc()


def _cache(name, hit) -> None:
    CACHE.labels(name, "hit" if hit else "miss").inc()


def batch_written(seconds: float) -> None:
    """The usage tracker stored one batch in ``seconds`` (its writer thread)."""
    if settings.METRICS_ENABLED:
        _queue((BATCH_WRITE.observe, seconds))


def summary_refreshed(seconds: float, rows: int, lag_seconds: float) -> None:
    if settings.METRICS_ENABLED:
        SUMMARY_REFRESH.observe(seconds)
        SUMMARY_ROWS.inc(rows)
        SUMMARY_LAG.set(max(lag_seconds, 0.0))


def _sync_tracker() -> None:
    """Copy this process's usage tracker counters (usage.tracker_stats) and its sampled
    track() costs into the metrics (under _flush_lock): at most once a second by the
    flusher, and by exposition()."""
    global _tracker_synced
    _tracker_synced = time.monotonic()
    from usage import drain_caller_costs, tracker_stats

    for seconds in drain_caller_costs():
        TRACK_COST.observe(seconds)
    stats = tracker_stats()
    for event in _TRACKER_EVENTS:
        now, seen = stats[event], _tracker_seen.get(event, 0)
        delta = now - seen if now >= seen else now  # a new tracker counts from 0 again
        if delta:
            TRACKER_RECORDS.labels(event).inc(delta)
        _tracker_seen[event] = now
    TRACKER_QUEUE.set(stats["buffered"])


def _forget_dead_processes() -> None:
    """Drop the live gauges of processes that are gone. prometheus-client keeps them until
    ``mark_process_dead`` is called, which a killed worker (SIGKILL, the OOM killer) never
    does and uvicorn has no hook for, so the sum over live processes would keep counting
    it. The directory is this host's, so the pids are this host's."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        try:
            pid = int(path[:-3].rsplit("_", 1)[1])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:
            continue  # alive, another user's


def _registry() -> CollectorRegistry:
    if MULTIPROCESS:
        _forget_dead_processes()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def families() -> list[Metric]:
    """The recorded metrics of every process in multiprocess mode (else of this one), after
    applying this process's queue: what usage/operations.py keeps in a snapshot."""
    flush()
    if settings.METRICS_ENABLED:
        with _flush_lock:
            _sync_tracker()
    return list(_registry().collect())


class _TableSizes:
    """The ledger's and summaries' table and index sizes (usage/sizes.py), read at scrape
    time at most once a minute per process; nothing when the database does not answer.
    Kept out of the multiprocess files: every process would add the same bytes again."""

    EVERY_SECONDS = 60.0

    def __init__(self) -> None:
        self._read_at = -self.EVERY_SECONDS
        self._sizes: list = []

    def collect(self):
        if time.monotonic() - self._read_at >= self.EVERY_SECONDS:
            self._read_at = time.monotonic()
            from usage.sizes import table_sizes

            try:
                self._sizes = table_sizes().tables
            except Exception:  # noqa: BLE001 - a scrape must answer without the database
                logging.getLogger("config.metrics").warning("metrics: table sizes unavailable")
                self._sizes = []
                from django.db import connection

                connection.close_if_unusable_or_obsolete()  # the next try reconnects
        tables = GaugeMetricFamily(
            "usage_table_size_bytes", "Size of a ledger or summary table without its indexes "
            "(PostgreSQL pg_table_size; SQLite dbstat, or the whole file as 'database').",
            labels=["table"],
        )
        indexes = GaugeMetricFamily(
            "usage_table_index_size_bytes", "Size of the indexes of a ledger or summary table.",
            labels=["table"],
        )
        for size in self._sizes:
            tables.add_metric([size.table], size.table_bytes)
            indexes.add_metric([size.table], size.index_bytes)
        yield tables
        yield indexes


TABLE_SIZES = _TableSizes()
_SIZES = CollectorRegistry(auto_describe=False)
_SIZES.register(TABLE_SIZES)  # type: ignore[arg-type]


def exposition() -> bytes:
    """The metrics in Prometheus text format: of every process in multiprocess mode (each
    applies its queue at least every _FLUSH_SECONDS; this one at once), and the table sizes."""
    flush()
    if settings.METRICS_ENABLED:
        with _flush_lock:
            _sync_tracker()
    return generate_latest(_registry()) + generate_latest(_SIZES)
