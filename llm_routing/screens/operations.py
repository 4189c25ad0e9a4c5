"""The Operations screen (superusers): the seed's monitoring list with trends from the
stored operations snapshots (usage/operations.py, usage/operations_trends.py).

What the router and the tracker cost their callers, how fast the ledger and summaries
grow and what they will weigh at the retention limit, summary refresh time and lag, cache
hit rates, and the usage tracker's health across every process.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from llm_routing.screens.common import render_screen
from llm_routing.screens.operations_charts import CACHE_LABELS, charts
from tenants import permissions
from tenants.forms import RefuseUnsafeText
from usage import operations_trends as trends

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
           "90d": timedelta(days=90)}
DEFAULT_PERIOD = "7d"
JOB = "snapshot_operations"


class OperationsPeriodForm(RefuseUnsafeText, forms.Form):
    period = forms.ChoiceField(
        choices=[("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
                 ("90d", "Last 90 days")],
        required=False,
        widget=forms.RadioSelect,
    )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    if not permissions.is_superuser(request.user):
        raise PermissionDenied("The Operations screen is for superusers.")
    form = OperationsPeriodForm(request.GET or {"period": DEFAULT_PERIOD})
    valid = form.is_valid()
    period = (form.cleaned_data.get("period") if valid else None) or DEFAULT_PERIOD
    end = timezone.now()
    points = trends.points_between(end - PERIODS[period], end + timedelta(minutes=1))
    latest = trends.latest()
    figures = latest.figures if latest is not None else None
    context: dict[str, Any] = {
        "form": form,
        "period": period,
        "period_label": dict(form.fields["period"].choices)[period],  # type: ignore[attr-defined]
        "points": points,
        "latest": latest,
        "job": JOB,
        "every_minutes": settings.OPS_SNAPSHOT_MINUTES,
        "retention_days": settings.USAGE_RETENTION_DAYS,
        "snapshot_retention_days": settings.OPS_SNAPSHOT_RETENTION_DAYS,
        "charts": charts(points),
        "growth": trends.growth(points, settings.USAGE_RETENTION_DAYS),
    }
    if figures is not None:
        context.update(
            metrics_scope=figures["metrics_scope"],
            spill=figures["spill"],
            queue_depth=figures["queue_depth"],
            tracker=figures["tracker"],
            last_write_at=_when(figures["ledger"]["last_write_at"]),
            summary={
                **figures["summary"], "refreshed_at": _when(figures["summary"]["refreshed_at"])
            },
            size_method=figures["sizes"]["method"],
            recent=_recent(points),
        )
    return render_screen(
        request,
        "admin/screens/operations.html",
        title="Operations",
        context=context,
        status=200 if valid else 400,
    )


def _recent(points: list[trends.Point]) -> dict[str, Any]:
    """The last interval's figures (the newest snapshot against the one before it)."""
    last = points[-1] if points else None
    if last is None or last.previous is None:
        return {}
    return {
        "track_p50_us": _scaled(last.percentile("track_caller_seconds", 0.5), 1e6),
        "track_p99_us": _scaled(last.percentile("track_caller_seconds", 0.99), 1e6),
        "track_samples": last.calls("track_caller_seconds"),
        "router_p50_ms": _scaled(last.percentile("router_overhead_seconds", 0.5), 1e3),
        "router_p99_ms": _scaled(last.percentile("router_overhead_seconds", 0.99), 1e3),
        "routed": last.calls("router_overhead_seconds"),
        "caches": [
            {"name": name, "label": label, "rate": last.hit_rate(name),
             "lookups": last.lookups(name)}
            for name, label in CACHE_LABELS.items()
        ],
        "spilled": last.tracker_events("spilled"),
        "dropped": last.tracker_events("dropped"),
        "written": last.tracker_events("written"),
    }


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor
