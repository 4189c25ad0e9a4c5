"""Chart specs of the Operations screen for static/screens/charts.js (the dashboard's
chart code: "line" specs, several series each), one point per stored snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from usage.operations_trends import LEDGER, SUMMARIES, Point

CACHE_LABELS = {
    "routing_view": "Routing view",
    "model_list": "Model lists",
    "decrypted_key": "Decrypted keys",
    "api_key": "Bearer keys",
}


def _labels(points: list[Point]) -> list[str]:
    return [p.taken_at.strftime("%d %b %H:%M") for p in points]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _line(
    points: list[Point],
    *,
    title: str,
    description: str,
    series: list[tuple[str, str, Callable[[Point], float | None]]],
    format: str,
    empty: str,
    zero_is_data: bool = False,
) -> dict[str, Any]:
    return {
        "kind": "line",
        "title": title,
        "description": description,
        "x": _labels(points),
        "series": [
            {"key": key, "label": label, "values": [_round(value(p), 6) for p in points]}
            for key, label, value in series
        ],
        "format": format,
        "empty": empty,
        "zeroIsData": zero_is_data,
    }


def _scaled(histogram: str, q: float, factor: float) -> Callable[[Point], float | None]:
    def value(point: Point) -> float | None:
        found = point.percentile(histogram, q)
        return None if found is None else found * factor

    return value


def _p50_p99(
    histogram: str, name: str, factor: float
) -> list[tuple[str, str, Callable[[Point], float | None]]]:
    """The p50 and p99 series of a histogram, scaled (1e3: ms, 1e6: µs)."""
    return [(key, f"{name} {key}", _scaled(histogram, q, factor))
            for key, q in (("p50", 0.5), ("p99", 0.99))]


def charts(points: list[Point]) -> dict[str, dict[str, Any]]:
    no_calls = "No calls measured between these snapshots (or only one snapshot so far)."
    return {
        "track": _line(
            points,
            title="What track() costs its caller (µs), p50 and p99",
            description="Per interval between snapshots, from the sampled histogram.",
            series=_p50_p99("track_caller_seconds", "track()", 1e6),
            format="us",
            empty=no_calls,
        ),
        "router": _line(
            points,
            title="The router's added time (ms), p50 and p99",
            description="Per interval between snapshots: each routed request minus its "
            "provider calls and retry waits.",
            series=_p50_p99("router_overhead_seconds", "router", 1e3),
            format="ms-fine",
            empty=no_calls,
        ),
        "sizes": _line(
            points,
            title="Ledger and summary sizes",
            description="Table and index bytes at each snapshot.",
            series=[
                ("ledger-table", "Ledger table", lambda p: p.size((LEDGER,), "table")),
                ("ledger-indexes", "Ledger indexes", lambda p: p.size((LEDGER,), "indexes")),
                ("summary-table", "Summary tables", lambda p: p.size(SUMMARIES, "table")),
                ("summary-indexes", "Summary indexes", lambda p: p.size(SUMMARIES, "indexes")),
            ],
            format="bytes",
            empty="No sizes stored yet.",
        ),
        "refresh": _line(
            points,
            title="Summary refresh duration (s)",
            description="At each snapshot: how long the latest refresh took.",
            series=[
                ("refresh", "Refresh duration", lambda p: p.figures["summary"]["refresh_seconds"]),
            ],
            format="s",
            empty="No refresh recorded yet.",
            zero_is_data=True,
        ),
        "lag": _line(
            points,
            title="Summary lag (s)",
            description="At each snapshot: the age of the oldest raw row the summary does not "
            "include yet (0: it includes every row).",
            series=[("lag", "Lag", lambda p: p.figures["summary"]["lag_seconds"])],
            format="s",
            empty="No lag measured yet.",
            zero_is_data=True,
        ),
        "caches": _line(
            points,
            title="Cache hit rates (%)",
            description="Per interval between snapshots: hits / lookups of each cache.",
            series=[
                (name, label, (lambda p, name=name: p.hit_rate(name)))  # type: ignore[misc]
                for name, label in CACHE_LABELS.items()
            ],
            format="percent",
            empty="No cache lookups between these snapshots.",
            zero_is_data=True,
        ),
        "tracker": _line(
            points,
            title="Usage tracker: spill files waiting, records spilled and refused",
            description="Spill files at each snapshot; records spilled and dropped (refused) "
            "in each interval, over every process.",
            series=[
                ("files", "Spill files waiting", lambda p: p.figures["spill"]["files_waiting"]),
                ("spilled", "Records spilled", lambda p: p.tracker_events("spilled")),
                ("dropped", "Records refused", lambda p: p.tracker_events("dropped")),
            ],
            format="int",
            empty="Nothing spilled or refused in this period.",
        ),
    }
