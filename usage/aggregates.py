"""The one aggregation of usage rows, in SQL and in Python.

``METRICS`` names each summary figure with the SQL that computes it from raw rows (counts
per status, tokens, latency sum and histogram, known cost, unknown-cost and
estimated-token counts, cached-input and reasoning tokens, and for streamed attempts their
count, TTFT sum and TTFT histogram), written once for PostgreSQL and SQLite alike.
``aggregate_select`` is its SELECT list: the refresh inserts it into the summaries; the
selectors run it over the unsummarised tail. ``Agg`` adds such rows up in Python for any
period and reads percentiles off the histograms.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from usage.models import (
    HISTOGRAM_FIELDS,
    LATENCY_BUCKETS_MS,
    TTFT_HISTOGRAM_FIELDS,
    pico_to_usd,
)
from usage.statuses import COUNT_FIELD, NOT_FAILED, Status

STATUS_FIELDS = tuple((COUNT_FIELD[status], status) for status in Status)
COUNT_FIELDS = ("requests", *(name for name, _ in STATUS_FIELDS))


def _sum(column: str) -> str:
    # CAST: PostgreSQL sums bigints as numeric; every figure stays a plain integer.
    return f"CAST(coalesce(sum({column}), 0) AS bigint)"


def _histogram(column: str, names: tuple[str, ...]):
    """(name, SQL) per bucket of LATENCY_BUCKETS_MS; NULL values fall in none."""
    lower = None
    for name, upper in zip(names, LATENCY_BUCKETS_MS, strict=False):
        low = "" if lower is None else f"{column} > {lower} AND "
        yield name, f"count(*) FILTER (WHERE {low}{column} <= {upper})"
        lower = upper
    yield names[-1], f"count(*) FILTER (WHERE {column} > {lower})"


METRICS: tuple[tuple[str, str], ...] = (
    ("requests", "count(*)"),
    *((name, f"count(*) FILTER (WHERE status = {int(code)})") for name, code in STATUS_FIELDS),
    ("prompt_tokens", _sum("prompt_tokens")),
    ("completion_tokens", _sum("completion_tokens")),
    ("latency_ms_sum", _sum("latency_ms")),
    ("cost_pusd", _sum("cost_pusd")),
    ("cost_unknown", "count(*) FILTER (WHERE cost_pusd IS NULL)"),
    ("tokens_estimated", "count(*) FILTER (WHERE tokens_estimated)"),
    ("streamed", "count(*) FILTER (WHERE ttft_ms IS NOT NULL)"),
    ("ttft_ms_sum", _sum("ttft_ms")),
    ("cached_tokens", _sum("cached_tokens")),
    ("reasoning_tokens", _sum("reasoning_tokens")),
    *_histogram("latency_ms", HISTOGRAM_FIELDS),
    *_histogram("ttft_ms", TTFT_HISTOGRAM_FIELDS),
)
"""(summary column, SQL over model_usage_stats) for every figure, in one order."""
METRIC_FIELDS = tuple(name for name, _ in METRICS)

_LATENCY = slice(
    METRIC_FIELDS.index(HISTOGRAM_FIELDS[0]), METRIC_FIELDS.index(HISTOGRAM_FIELDS[-1]) + 1
)
_TTFT = slice(
    METRIC_FIELDS.index(TTFT_HISTOGRAM_FIELDS[0]),
    METRIC_FIELDS.index(TTFT_HISTOGRAM_FIELDS[-1]) + 1,
)


def hour_sql(vendor: str, column: str = "created_at") -> str:
    """The UTC hour a timestamp falls in, as the database stores a DateTimeField."""
    if vendor == "postgresql":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    # %% because the SQL goes through a DB-API cursor with parameters.
    return f"strftime('%%Y-%%m-%%d %%H:00:00', {column})"


def aggregate_select() -> str:
    """SELECT list of METRIC_FIELDS over model_usage_stats (portable SQL)."""
    return ", ".join(sql for _, sql in METRICS)


def _percentile(hist: list[int], fraction: float) -> int | None:
    """The value at ``fraction`` (0-1) of a LATENCY_BUCKETS_MS histogram, interpolated
    inside its bucket; None for an empty histogram."""
    total = sum(hist)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    lower = 0
    for i, count in enumerate(hist):
        upper = LATENCY_BUCKETS_MS[i] if i < len(LATENCY_BUCKETS_MS) else lower * 2
        if count and seen + count >= rank:
            return round(lower + (upper - lower) * (rank - seen) / count)
        seen += count
        lower = upper
    return lower


@dataclass
class Agg:
    """Additive usage figures for some group of rows (any period, any set of hours)."""

    values: list[int] = field(default_factory=lambda: [0] * len(METRIC_FIELDS))

    def add(self, row) -> None:
        """Add a row of METRIC_FIELDS (integers, as aggregate_select and the summary give)."""
        self.values = list(map(operator.add, self.values, row))

    def __getattr__(self, name: str) -> int:
        try:
            return self.values[METRIC_FIELDS.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    @property
    def failed(self) -> int:
        """Attempts that neither succeeded nor were cancelled by the caller."""
        return self.requests - sum(getattr(self, COUNT_FIELD[s]) for s in NOT_FAILED)

    def percentile(self, fraction: float) -> int | None:
        """Latency at ``fraction`` (0-1), interpolated inside its histogram bucket."""
        return _percentile(self.values[_LATENCY], fraction)

    def ttft_percentile(self, fraction: float) -> int | None:
        """Time to first token of the streamed attempts at ``fraction`` (0-1)."""
        return _percentile(self.values[_TTFT], fraction)

    def as_dict(self) -> dict:
        """Figures for screens and JSON: counts, tokens, cost (Decimal USD), latency, TTFT.

        ``failed`` counts attempts that neither succeeded nor were cancelled by the caller.
        """
        d = {name: getattr(self, name) for name in COUNT_FIELDS}
        d["failed"] = self.failed
        d["prompt_tokens"] = self.prompt_tokens
        d["completion_tokens"] = self.completion_tokens
        d["total_tokens"] = self.prompt_tokens + self.completion_tokens
        d["tokens_estimated"] = self.tokens_estimated
        d["cached_tokens"] = self.cached_tokens
        d["reasoning_tokens"] = self.reasoning_tokens
        d["cost_usd"] = pico_to_usd(self.cost_pusd)
        d["cost_unknown"] = self.cost_unknown
        d["latency_avg_ms"] = round(self.latency_ms_sum / self.requests) if self.requests else None
        d["latency_p50_ms"] = self.percentile(0.50)
        d["latency_p95_ms"] = self.percentile(0.95)
        d["streamed"] = self.streamed
        d["ttft_avg_ms"] = round(self.ttft_ms_sum / self.streamed) if self.streamed else None
        d["ttft_p50_ms"] = self.ttft_percentile(0.50)
        d["ttft_p95_ms"] = self.ttft_percentile(0.95)
        return d
