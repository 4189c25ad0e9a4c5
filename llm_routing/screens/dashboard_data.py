"""The dashboard's numbers for one period, shaped for the template and the charts.

One read of ``usage.selectors.period_usage`` gives every figure on the page, so the
charts, the totals table and the headline numbers always agree with each other.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from llm_routing import providers
from llm_routing.screens import charts
from llm_routing.screens.periods import Period
from usage import selectors as usage_selectors
from usage.statuses import COUNT_FIELD, WORDS, Status

# The selectors' count names for each ledger status, in the charts' order.
STATUS_FIELDS = {status.label: COUNT_FIELD[status] for status in Status}
# (figure name, words) per status, for the tables' columns.
STATUS_COLUMNS = [(COUNT_FIELD[status], WORDS[status]) for status in Status]


def _label(provider: str) -> str:
    return providers.get_provider(provider).label if providers.is_known(provider) else provider


def _with_other_failures(figures: dict[str, Any]) -> dict[str, Any]:
    return {**figures, "other_failures": figures["failed"] - figures["rate_limited"]}


def _tenant_rows(rows: list[dict], tenants) -> list[dict]:
    """The per-tenant totals with each tenant (for its name and dashboard link)."""
    by_id = {t.pk: t for t in tenants}
    return [
        {**_with_other_failures(r), "tenant": by_id[r["tenant_id"]]}
        for r in rows
        if r["tenant_id"] in by_id
    ]


def dashboard_figures(*, tenants, period: Period, by_tenant: bool = False) -> dict[str, Any]:
    """Every figure of the page; ``by_tenant`` adds ``by_tenant`` rows (``tenants`` must
    then be Tenant objects, whose names and links the rows carry)."""
    usage = usage_selectors.period_usage(
        tenants=tenants,
        start=period.start,
        end=period.end,
        tz=period.tz.key,
        bucket=period.bucket,
        by_tenant=by_tenant,
    )
    buckets = period.buckets()
    labels = charts.bucket_labels(buckets, period.bucket)
    per_bucket = [usage["buckets"].get(b) for b in buckets]
    by_status = {
        status: [(f or {}).get(field, 0) for f in per_bucket]
        for status, field in STATUS_FIELDS.items()
    }
    cost = [(f or {}).get("cost_usd") or Decimal(0) for f in per_bucket]
    latency_rows, ttft_rows = (
        [
            {
                "label": _label(r["provider"]),
                "p50_ms": r[f"{what}_p50_ms"],
                "p95_ms": r[f"{what}_p95_ms"],
            }
            for r in usage["by_provider"]
        ]
        for what in ("latency", "ttft")
    )
    cost_rows = [
        {"provider": r["provider"], "model": r["model"], "cost": r["cost_usd"] or Decimal(0)}
        for r in usage["by_model"]
    ]
    return {
        "by_tenant": _tenant_rows(usage["by_tenant"], tenants) if by_tenant else None,
        "all": _with_other_failures(usage["all"]),
        "by_model": [_with_other_failures(r) for r in usage["by_model"]],
        "by_provider": [{**r, "label": _label(r["provider"])} for r in usage["by_provider"]],
        "status_columns": [words for _, words in STATUS_COLUMNS],
        "series_rows": [
            {
                "label": label,
                "figures": figures or {},
                "by_status": [(figures or {}).get(field, 0) for field, _ in STATUS_COLUMNS],
            }
            for label, figures in zip(labels, per_bucket, strict=True)
        ],
        "charts": {
            "requests": charts.requests_over_time(labels, by_status),
            "tokens": charts.tokens_by_model(usage["by_model"]),
            "latency": charts.latency_by_provider(latency_rows),
            "ttft": charts.ttft_by_provider(ttft_rows),
            "cost_time": charts.cost_over_time(labels, cost),
            "cost_model": charts.cost_by_model(cost_rows),
        },
    }
