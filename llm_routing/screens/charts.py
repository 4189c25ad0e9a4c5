"""Chart specs for static/screens/charts.js, built from the dashboard's numbers.

Each spec is plain JSON (embedded with ``json_script``); the same numbers also go into the
tables beside the charts, so the page reads without the drawings and without colour.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from usage.money import format_usd
from usage.statuses import WORDS, Status

# The ledger's statuses in the order the stacks show them, with words an operator reads.
STATUS_LABELS = {status.label: WORDS[status] for status in Status}


def bucket_labels(buckets: list[dt.datetime], bucket: str) -> list[str]:
    if bucket == "day":
        return [b.strftime("%d %b") for b in buckets]
    if len(buckets) <= 25:
        return [b.strftime("%H:00") for b in buckets]
    return [b.strftime("%d %b %H:00") for b in buckets]


def requests_over_time(labels: list[str], by_status: dict[str, list[int]]) -> dict[str, Any]:
    series = [
        {"key": status, "label": label, "values": by_status[status]}
        for status, label in STATUS_LABELS.items()
        if any(by_status.get(status) or [])
    ]
    total = sum(sum(s["values"]) for s in series)
    return {
        "kind": "columns",
        "title": "Requests over time, stacked by status",
        "description": f"{total:,} requests in {len(labels)} buckets.",
        "x": labels,
        "series": series,
        "format": "int",
    }


def tokens_by_model(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(rows, key=lambda r: -(r["prompt_tokens"] + r["completion_tokens"]))
    return {
        "kind": "bars",
        "mode": "stacked",
        "title": "Tokens per provider and model",
        "description": f"{len(ranked)} models; prompt and completion tokens.",
        "rows": [
            {
                "label": f"{r['provider']} · {r['model']}",
                "values": [r["prompt_tokens"], r["completion_tokens"]],
            }
            for r in ranked
            if r["prompt_tokens"] + r["completion_tokens"] > 0
        ],
        "series": [
            {"key": "prompt", "label": "Prompt tokens"},
            {"key": "completion", "label": "Completion tokens"},
        ],
        "format": "int",
    }


def latency_by_provider(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return _percentiles(
        rows,
        title="Latency per provider, p50 and p95",
        description="Median and 95th percentile latency of attempts, in milliseconds.",
    )


def ttft_by_provider(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return _percentiles(
        rows,
        title="Time to first token per provider, p50 and p95",
        description=(
            "Median and 95th percentile time from the request to the first content of "
            "streamed attempts, in milliseconds."
        ),
        empty="No streamed requests in this period.",
    )


def _percentiles(
    rows: list[dict[str, Any]], *, title: str, description: str, empty: str | None = None
) -> dict[str, Any]:
    """Grouped bars of ``p50_ms`` and ``p95_ms`` per ``label``; rows without figures are left
    out."""
    spec = {
        "kind": "bars",
        "mode": "grouped",
        "title": title,
        "description": description,
        "rows": [
            {"label": r["label"], "values": [r["p50_ms"], r["p95_ms"]]}
            for r in rows
            if r["p50_ms"] is not None
        ],
        "series": [
            {"key": "p50", "label": "p50 (median)", "short": "p50"},
            {"key": "p95", "label": "p95", "short": "p95"},
        ],
        "format": "ms",
    }
    if empty:
        spec["empty"] = empty
    return spec


def cost_over_time(labels: list[str], values: list[Decimal]) -> dict[str, Any]:
    return {
        "kind": "line",
        "title": "Cost over time (USD)",
        "description": (
            f"Known cost: {format_usd(sum(values, Decimal(0)))} in {len(labels)} buckets."
        ),
        "x": labels,
        "series": [{"key": "cost", "label": "Cost (USD)", "values": [float(v) for v in values]}],
        "format": "usd",
    }


def cost_by_model(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted((r for r in rows if r["cost"]), key=lambda r: -r["cost"])
    return {
        "kind": "bars",
        "mode": "stacked",
        "title": "Cost per provider and model (USD)",
        "description": f"{len(ranked)} models with a known cost.",
        "rows": [
            {"label": f"{r['provider']} · {r['model']}", "values": [float(r["cost"])]}
            for r in ranked
        ],
        "series": [{"key": "cost", "label": "Cost (USD)"}],
        "format": "usd",
    }
