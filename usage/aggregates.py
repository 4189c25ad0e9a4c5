"""The one aggregation of usage rows, in SQL and in Python.

``aggregate_select`` is the SELECT list that turns raw rows into summary columns (counts
per status, tokens, latency sum and histogram, known cost, unknown-cost count), written once
for PostgreSQL and SQLite alike. The refresh inserts it into ``model_usage_summary``; the
selectors run it over the unsummarised tail. ``Agg`` adds such rows up in Python for any
period and reads percentiles off the histogram.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from usage.models import HISTOGRAM_FIELDS, LATENCY_BUCKETS_MS, Status, pico_to_usd

STATUS_FIELDS = (
    ("successes", Status.SUCCESS),
    ("rate_limited", Status.RATE_LIMITED),
    ("timeouts", Status.TIMEOUT),
    ("errors", Status.ERROR),
    ("auth_errors", Status.AUTH_ERROR),
    ("invalid_requests", Status.INVALID_REQUEST),
)
COUNT_FIELDS = ("requests", *(name for name, _ in STATUS_FIELDS))
SUM_FIELDS = ("prompt_tokens", "completion_tokens", "latency_ms_sum", "cost_pusd", "cost_unknown")
METRIC_FIELDS = (*COUNT_FIELDS, *SUM_FIELDS, *HISTOGRAM_FIELDS)


def hour_sql(vendor: str, column: str = "created_at") -> str:
    """The UTC hour a timestamp falls in, as the database stores a DateTimeField."""
    if vendor == "postgresql":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    # %% because the SQL goes through a DB-API cursor with parameters.
    return f"strftime('%%Y-%%m-%%d %%H:00:00', {column})"


def aggregate_select() -> str:
    """SELECT list of METRIC_FIELDS over model_usage_stats (portable SQL)."""
    parts = ["count(*)"]
    parts += [f"count(*) FILTER (WHERE status = {int(code)})" for _, code in STATUS_FIELDS]
    # CAST: PostgreSQL sums bigints as numeric; every figure stays a plain integer.
    parts += [
        f"CAST(coalesce(sum({column}), 0) AS bigint)"
        for column in ("prompt_tokens", "completion_tokens", "latency_ms", "cost_pusd")
    ]
    parts.append("count(*) FILTER (WHERE cost_pusd IS NULL)")
    lower = None
    for upper in LATENCY_BUCKETS_MS:
        low = "" if lower is None else f"latency_ms > {lower} AND "
        parts.append(f"count(*) FILTER (WHERE {low}latency_ms <= {upper})")
        lower = upper
    parts.append(f"count(*) FILTER (WHERE latency_ms > {lower})")
    return ", ".join(parts)


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

    def percentile(self, fraction: float) -> int | None:
        """Latency at ``fraction`` (0-1), interpolated inside its histogram bucket."""
        hist = self.values[len(COUNT_FIELDS) + len(SUM_FIELDS):]
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

    def as_dict(self) -> dict:
        """Figures for screens and JSON: counts, tokens, cost (Decimal USD), latency."""
        d = {name: getattr(self, name) for name in COUNT_FIELDS}
        d["failed"] = d["requests"] - d["successes"]
        d["prompt_tokens"] = self.prompt_tokens
        d["completion_tokens"] = self.completion_tokens
        d["total_tokens"] = self.prompt_tokens + self.completion_tokens
        d["cost_usd"] = pico_to_usd(self.cost_pusd)
        d["cost_unknown"] = self.cost_unknown
        d["latency_avg_ms"] = round(self.latency_ms_sum / self.requests) if self.requests else None
        d["latency_p50_ms"] = self.percentile(0.50)
        d["latency_p95_ms"] = self.percentile(0.95)
        return d
