"""Trends from operations snapshots (usage/operations.py), for the Operations screen.

Histograms and counters in a snapshot are cumulative (since the metrics' files were
started), so each trend point is the difference between a snapshot and the one before it:
the percentiles of the calls made in that interval, the hit rate of the lookups made in
it. A counter that went down means the metrics restarted (a new server, an emptied
multiprocess directory); the later snapshot's own figures are then the interval's.

Percentiles are read from histogram buckets the way Prometheus' ``histogram_quantile``
does: linear within the bucket that holds the rank, so they are estimates, never finer
than the buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from usage.models import OperationsSnapshot
from usage.sizes import WHOLE_FILE

LEDGER = "model_usage_stats"
SUMMARIES = ("model_usage_summary", "model_usage_day_summary")
MAX_POINTS = 240
"""A long period is thinned to this many snapshots (differences stay exact: the figures
are cumulative)."""


def quantile(buckets: list[list[Any]], q: float) -> float | None:
    """The ``q`` quantile of cumulative ``[[upper bound, count], ...]`` (``+Inf`` last);
    None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        upper = float(bound)
        if count >= rank:
            if upper == float("inf"):
                return lower  # past the last finite bound: that bound is all we know
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = upper, count
    return lower


def _difference(later: list[list[Any]], earlier: list[list[Any]]) -> list[list[Any]]:
    old = dict((bound, count) for bound, count in earlier)
    if later and later[-1][1] < old.get(later[-1][0], 0):
        return later  # the metrics restarted in between
    return [[bound, count - old.get(bound, 0)] for bound, count in later]


def _delta(later: float, earlier: float) -> float:
    return later - earlier if later >= earlier else later


@dataclass(frozen=True)
class Point:
    """One snapshot, with what happened in the interval since the previous one."""

    taken_at: datetime
    figures: dict[str, Any]
    previous: dict[str, Any] | None

    def percentile(self, histogram: str, q: float) -> float | None:
        if self.previous is None:
            return None
        later = self.figures["histograms"][histogram]["buckets"]
        earlier = self.previous["histograms"][histogram]["buckets"]
        return quantile(_difference(later, earlier), q)

    def calls(self, histogram: str) -> float | None:
        if self.previous is None:
            return None
        return _delta(
            self.figures["histograms"][histogram]["count"],
            self.previous["histograms"][histogram]["count"],
        )

    def hit_rate(self, cache: str) -> float | None:
        """Percent of the interval's lookups that hit; None without lookups."""
        found = self.lookups(cache)
        if found is None:
            return None
        hits, misses = found
        return 100 * hits / (hits + misses) if hits + misses else None

    def lookups(self, cache: str) -> tuple[float, float] | None:
        """(hits, misses) in the interval; None without a previous snapshot or where one
        of the two was taken before this cache was counted (a snapshot of an older
        release)."""
        if self.previous is None:
            return None
        now = self.figures["cache"].get(cache)
        before = self.previous["cache"].get(cache)
        if now is None or before is None:
            return None
        return _delta(now["hit"], before["hit"]), _delta(now["miss"], before["miss"])

    def tracker_events(self, event: str) -> float | None:
        if self.previous is None:
            return None
        return _delta(self.figures["tracker"][event], self.previous["tracker"][event])

    def size(self, tables: tuple[str, ...], part: str | None = None) -> int | None:
        """Bytes of ``tables`` (their ``part``, "table" or "indexes"; both when None)."""
        found = self.figures["sizes"]["tables"]
        present = [found[t] for t in tables if t in found]
        if not present:
            return None
        return sum(s["table"] + s["indexes"] if part is None else s[part] for s in present)


@dataclass(frozen=True)
class Growth:
    label: str
    tables: tuple[str, ...]
    current_bytes: int | None
    table_bytes: int | None
    index_bytes: int | None
    per_day_bytes: float | None  # None: fewer than two snapshots a while apart
    projected_bytes: float | None
    projection: str  # how the projection was made, in words


def growth(points: list[Point], retention_days: int) -> list[Growth]:
    """Sizes now, the growth per day over the points, and the size at the retention limit.

    The ledger's raw rows are pruned after ``retention_days``: at the present rate it
    levels off at the rows of that many days (rate x days), or stays where it is if it is
    already larger. The summaries are never pruned: they are projected ``retention_days``
    ahead.
    """
    results = []
    for label, tables in (("Ledger (raw usage rows)", (LEDGER,)), ("Summaries", SUMMARIES),
                          ("Whole database file (estimate)", (WHOLE_FILE,))):
        sized = [p for p in points if p.size(tables) is not None]
        if not sized and tables == (WHOLE_FILE,):
            continue  # measured only where SQLite lacks dbstat
        last = sized[-1] if sized else None
        per_day = projected = None
        if len(sized) >= 2 and last is not None:
            first = sized[0]
            days = (last.taken_at - first.taken_at) / timedelta(days=1)
            if days > 0:
                per_day = (last.size(tables) - first.size(tables)) / days  # type: ignore[operator]
        if per_day is not None and last is not None:
            now = last.size(tables) or 0
            if tables != SUMMARIES:  # the ledger is most of the file
                projected = max(float(now), per_day * retention_days)
                how = f"the rows of {retention_days} days at this rate (older rows are pruned)"
            else:
                projected = now + per_day * retention_days
                how = f"{retention_days} days from now at this rate (summaries are kept)"
        else:
            how = "needs two snapshots some time apart"
        results.append(
            Growth(
                label=label,
                tables=tables,
                current_bytes=last.size(tables) if last else None,
                table_bytes=last.size(tables, "table") if last else None,
                index_bytes=last.size(tables, "indexes") if last else None,
                per_day_bytes=per_day,
                projected_bytes=projected,
                projection=how,
            )
        )
    return results


def points_between(start: datetime, end: datetime) -> list[Point]:
    """The snapshots taken in [start, end), oldest first, at most MAX_POINTS of them (evenly
    thinned), each with the figures of the one before it (the one just before ``start``
    for the first)."""
    in_period = OperationsSnapshot.objects.filter(taken_at__gte=start, taken_at__lt=end)
    ids = list(in_period.order_by("taken_at").values_list("pk", flat=True))
    if len(ids) > MAX_POINTS:
        step = len(ids) / MAX_POINTS
        ids = [ids[int(i * step)] for i in range(MAX_POINTS - 1)] + [ids[-1]]
    rows = list(OperationsSnapshot.objects.filter(pk__in=ids).order_by("taken_at"))
    before = (
        OperationsSnapshot.objects.filter(taken_at__lt=start).order_by("-taken_at").first()
    )
    points = []
    previous = before.figures if before is not None else None
    for row in rows:
        figures = row.figures
        points.append(Point(row.taken_at, figures, _compatible(previous, figures)))
        previous = figures
    return points


def _compatible(previous: dict | None, figures: dict) -> dict | None:
    """The previous figures, when they can be compared with these (same version)."""
    if previous is None or previous.get("version") != figures.get("version"):
        return None
    return previous


def latest() -> OperationsSnapshot | None:
    return OperationsSnapshot.objects.order_by("-taken_at").first()

