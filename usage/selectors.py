"""Reads of usage for the dashboard, fast at millions of rows.

Periods are read from ``model_usage_summary`` (hourly) plus, for rows the last refresh has
not reached yet, the raw rows above the watermark; both in one SQL statement, so a refresh
committing meanwhile cannot count a row twice or not at all. "Right now" figures (current
error and rate-limit rates, the last 24 hours) come straight from raw rows over a short
window, found through the BRIN index on ``created_at``.

``tenants`` everywhere: a Tenant, a queryset of tenants (say
``tenants.selectors.tenants_for_user(user)``), or an iterable of tenant ids. Callers scope
it to the requesting user; these functions never widen it.

Days are the tenant's local days (its ``timezone``; with several tenants pass ``tz``, else
UTC). Summary hours are UTC hours, so days are exact in every zone whose offset is a whole
number of hours; in the few zones offset by 30 or 45 minutes the hour that straddles local
midnight is counted in the day it starts in.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from tenants.models import Tenant
from usage.aggregates import METRIC_FIELDS, Agg, aggregate_select, hour_sql
from usage.budgets import hold_seconds, parse_thresholds, window_bounds
from usage.models import (
    Budget,
    BudgetAlert,
    BudgetHold,
    BudgetWindow,
    ModelUsageStat,
    ModelUsageSummary,
    ProviderModel,
)
from usage.money import usd_from_pico
from usage.summary import floor_day, floor_hour, summarised_through

_TENANT_FIELD = ModelUsageStat._meta.get_field("tenant")


def _tenant_ids(tenants) -> list[uuid.UUID]:
    if isinstance(tenants, Tenant):
        return [tenants.pk]
    if isinstance(tenants, QuerySet):
        return list(tenants.values_list("pk", flat=True))
    if isinstance(tenants, str | uuid.UUID):
        tenants = [tenants]
    return [t.pk if isinstance(t, Tenant) else uuid.UUID(str(t)) for t in tenants]


def _zone(tenants, tz) -> zoneinfo.ZoneInfo:
    if tz:
        return zoneinfo.ZoneInfo(str(tz))
    if isinstance(tenants, Tenant):
        return zoneinfo.ZoneInfo(tenants.timezone)
    return zoneinfo.ZoneInfo("UTC")


def _in_list(ids: list[uuid.UUID], connection) -> tuple[str, list]:
    values = [_TENANT_FIELD.get_db_prep_value(i, connection) for i in ids]
    return ", ".join(["%s"] * len(values)), values


def _models(using: str) -> dict[int, tuple[str, str]]:
    return {m.id: (m.provider, m.name) for m in ProviderModel.objects.using(using).all()}


def _bucket_case(column: str, starts: list, first: int = 0, last: int | None = None):
    """SQL (and params) numbering the bucket a time falls in: a binary search of CASEs.

    ``starts``: the buckets' start times, ascending and contiguous. Portable SQL, and
    log2(buckets) comparisons per row instead of a join against every bucket.
    """
    last = len(starts) - 1 if last is None else last
    if first == last:
        return str(first), []
    middle = (first + last + 1) // 2
    below, below_params = _bucket_case(column, starts, first, middle - 1)
    above, above_params = _bucket_case(column, starts, middle, last)
    return (
        f"CASE WHEN {column} < %s THEN {below} ELSE {above} END",
        [starts[middle], *below_params, *above_params],
    )


DASHBOARD_WORK_MEM = "64MB"


def _tuned(cursor, vendor: str) -> None:
    """Per-transaction planner settings for one dashboard read (PostgreSQL).

    Hourly reads across many tenants (a 7-day view; before the day rows, a 30-day one:
    ~290k hours) sum tens to hundreds of thousands of rows into a few hundred groups. JIT
    compiled such a statement for ~60 ms and saved less. The planner cannot tell how few
    groups the bucket CASE makes, so with the default work_mem it sorted (spilling ~70 MB
    to disk) instead of hashing; a larger work_mem for this transaction lets it hash.
    SET LOCAL-like: both end with the transaction.
    """
    if vendor == "postgresql":
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', %s, true)",
            [DASHBOARD_WORK_MEM],
        )


def _read(ids, buckets: list[tuple[datetime, datetime]], using: str, *, by_tenant: bool = False):
    """Sums over summary hours + unsummarised tail: per (bucket, model), and per tenant.

    Returns ``(cells, tenants)``: ``cells`` rows are (bucket index, model_id,
    *METRIC_FIELDS); ``tenants`` rows (tenant_id, *METRIC_FIELDS) over all the buckets,
    only when ``by_tenant`` (else empty). ``buckets``: contiguous UTC intervals; an hour
    belongs to the bucket its start is in. The database does the summing, so a 30-day
    read returns buckets x models rows (a few hundred), not thousands of hours.

    Whole UTC days inside a bucket are read from ``model_usage_day_summary`` (the refresh
    keeps each day row equal to its 24 hours), the rest from hourly rows.

    One statement reads the summary and the raw rows above the watermark, so both come
    from one snapshot, and sums the same rows both ways (the rows are read once). The
    watermark is passed as a literal (the planner then sees the tail is small); the
    statement also returns the watermark it saw, and if a refresh committed in between,
    the question is asked again.
    """
    if not ids or not buckets:
        return [], []
    connection = connections[using]
    marks, values = _in_list(ids, connection)
    adapt = connection.ops.adapt_datetimefield_value
    at_start, at_end = buckets[0][0], buckets[-1][1]
    days = _whole_days(buckets) or (at_end, at_end)
    bucket_sql, bucket_params = _bucket_case("u.hour", [adapt(lo) for lo, _ in buckets])
    resums = ", ".join(f"CAST(sum({m}) AS bigint)" for m in METRIC_FIELDS)
    metrics = ", ".join(METRIC_FIELDS)
    blanks = ", ".join(["0"] * len(METRIC_FIELDS))
    per_tenant = (
        f"UNION ALL SELECT 1, NULL, NULL, tenant_id, {resums} FROM cells GROUP BY tenant_id "
        if by_tenant
        else ""
    )
    hours = (
        f"SELECT tenant_id, model_id, hour, {metrics} FROM model_usage_summary "
        f"WHERE tenant_id IN ({marks}) AND hour >= %s AND hour < %s "
    )
    # Summary hours before and after the whole UTC days, day rows for those days, and the
    # raw rows the summary has not reached (any time in the period), their counts cast to
    # the summary's integer columns: PostgreSQL sums integers into a plain bigint, bigints
    # into a 128-bit state per group, about twice the work.
    typed = ", ".join(
        f"CAST({m} AS {ModelUsageSummary._meta.get_field(m).db_type(connection)})"
        for m in METRIC_FIELDS
    )
    sql = (
        f"WITH tail (tenant_id, model_id, hour, {metrics}) AS ("
        f"SELECT tenant_id, model_id, {hour_sql(connection.vendor)}, {aggregate_select()} "
        "FROM model_usage_stats "
        # coalesce(): the tail is found by seq (BRIN); the planner would otherwise AND in a
        # bitmap of the tenant index, every row the tenant ever had (~30 ms at 1M rows).
        f"WHERE seq > %s AND coalesce(tenant_id, tenant_id) IN ({marks}) "
        "AND created_at >= %s AND created_at < %s "
        "GROUP BY 1, 2, 3), "
        f"cells AS (SELECT {bucket_sql} AS bucket, u.* FROM ("
        f"{hours} UNION ALL "
        f"SELECT tenant_id, model_id, day, {metrics} FROM model_usage_day_summary "
        f"WHERE tenant_id IN ({marks}) AND day >= %s AND day < %s "
        f"UNION ALL {hours} UNION ALL "
        f"SELECT tenant_id, model_id, hour, {typed} FROM tail"
        ") u) "
        f"SELECT 0, bucket, model_id, NULL, {resums} FROM cells GROUP BY bucket, model_id "
        f"{per_tenant}"
        f"UNION ALL SELECT 2, NULL, watermark, NULL, {blanks} "
        "FROM usage_summary_state WHERE id = 1"
    )

    def params(watermark: int) -> list:
        return [
            watermark, *values, adapt(at_start), adapt(at_end),
            *bucket_params,
            *values, adapt(at_start), adapt(days[0]),
            *values, adapt(days[0]), adapt(days[1]),
            *values, adapt(days[1]), adapt(at_end),
        ]

    watermark = summarised_through(using)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        _tuned(cursor, connection.vendor)
        for _ in range(5):
            cursor.execute(sql, params(watermark))
            rows = cursor.fetchall()
            seen = next((row[2] for row in rows if row[0] == 2), 0)
            if seen == watermark:
                cells = [(row[1], row[2], *row[4:]) for row in rows if row[0] == 0]
                tenants = [(row[3], *row[4:]) for row in rows if row[0] == 1]
                return cells, tenants
            watermark = seen
    raise RuntimeError("usage summary kept changing while it was read")


def _whole_days(buckets: list[tuple[datetime, datetime]]) -> tuple[datetime, datetime] | None:
    """The first run of consecutive UTC days [first, after) that each lie inside one bucket.

    Those days are read from the day rows (one row per tenant, model and day instead of 24):
    UTC-day buckets, or a long single bucket. Hourly buckets and local days of a zone
    offset from UTC contain no whole UTC day and read hours only.
    """
    one_day = timedelta(days=1)
    first = after = None
    for lower, upper in buckets:
        day = floor_day(lower)
        if day < lower:
            day += one_day
        while day + one_day <= upper:
            if after is not None and day != after:
                return first, after
            first = first or day
            after = day + one_day
            day += one_day
    return (first, after) if first else None


def _bucketed(ids, buckets: list[tuple[datetime, datetime]], using: str) -> list[tuple]:
    """(bucket index, model_id, *METRIC_FIELDS) rows of ``_read``."""
    return _read(ids, buckets, using)[0]


def _period(start: date, end: date, zone) -> tuple[datetime, datetime]:
    """Local dates [start, end] (inclusive) as a UTC half-open interval."""
    first = datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return first, after


def _buckets_between(start: datetime, end: datetime, zone, bucket: str) -> list[tuple]:
    """(UTC start, UTC end, label) per local day or per hour covering [start, end).

    Summary rows are whole UTC hours: an hour counts when it starts inside [start, end).
    Labels: local dates, or aware local datetimes for hours.
    """
    first = start.astimezone(UTC)
    if first != floor_hour(first):
        first = floor_hour(first) + timedelta(hours=1)
    end = end.astimezone(UTC)
    buckets = []
    if bucket == "hour":
        moment = first
        while moment < end:
            buckets.append((moment, min(moment + timedelta(hours=1), end), moment.astimezone(zone)))
            moment += timedelta(hours=1)
        return buckets
    day = first.astimezone(zone).date()
    lower = first
    while lower < end:
        upper = min(_period(day, day, zone)[1], end)
        buckets.append((lower, upper, day))
        lower, day = upper, day + timedelta(days=1)
    return buckets


def _buckets(start: date, end: date, zone, bucket: str) -> list[tuple]:
    """(UTC start, UTC end, label) per local day or hour of local dates start..end."""
    return _buckets_between(*_period(start, end, zone), zone, bucket)


def _figures(rows, labels, using: str) -> list[dict]:
    names = _models(using)
    points = []
    for row in rows:
        agg = Agg()
        agg.add(row[2:])
        provider, model = names[row[1]]
        points.append({"bucket": labels[row[0]], "provider": provider, "model": model,
                       **agg.as_dict()})
    return points


def time_series(
    *,
    tenants,
    start: date,
    end: date,
    tz: str | None = None,
    bucket: str = "day",
    using: str = "default",
) -> list[dict]:
    """Usage per local day (or hour) and per provider and model, for local dates start..end.

    Returns dicts sorted by bucket, provider, model: ``bucket`` (a date for "day", an aware
    local datetime for "hour"), ``provider``, ``model``, ``requests``, ``successes``,
    ``rate_limited``, ``timeouts``, ``errors``, ``auth_errors``, ``invalid_requests``,
    ``cancelled`` (one count per status, ``usage.statuses.COUNT_FIELD``), ``failed``
    (neither succeeded nor cancelled), ``prompt_tokens``, ``completion_tokens``,
    ``total_tokens``, ``tokens_estimated`` (rows whose counts are estimates), ``cost_usd``
    (Decimal, known costs only), ``cost_unknown`` (rows without a price),
    ``latency_avg_ms``, ``latency_p50_ms``, ``latency_p95_ms`` (None without rows),
    ``streamed`` (attempts with a time to first token), ``ttft_avg_ms``, ``ttft_p50_ms``,
    ``ttft_p95_ms`` (None without streamed attempts). Buckets without usage are absent.
    """
    if bucket not in ("day", "hour"):
        raise ValueError("bucket must be 'day' or 'hour'")
    buckets = _buckets(start, end, _zone(tenants, tz), bucket)
    rows = _bucketed(_tenant_ids(tenants), [(lo, hi) for lo, hi, _ in buckets], using)
    points = _figures(rows, [label for _, _, label in buckets], using)
    points.sort(key=lambda p: (p["bucket"], p["provider"], p["model"]))
    return points


def totals(
    *, tenants, start: date, end: date, tz: str | None = None, using: str = "default"
) -> dict:
    """Totals for local dates start..end: ``{"all": {...}, "by_model": [{provider, model, ...}]}``.

    The figures are those of ``time_series``; ``by_model`` is sorted by requests, busiest first.
    """
    period = _period(start, end, _zone(tenants, tz))
    rows = _bucketed(_tenant_ids(tenants), [period], using)
    overall = Agg()
    for row in rows:
        overall.add(row[2:])
    by_model = _figures(rows, [None], using)
    for point in by_model:
        del point["bucket"]
    by_model.sort(key=lambda d: (-d["requests"], d["provider"], d["model"]))
    return {"all": overall.as_dict(), "by_model": by_model}


def _raw_groups(ids, since: datetime, group: str, using: str, *, short: bool = False) -> list:
    """Raw rows since ``since``. ``short``: a window of minutes, found by time alone.

    For minutes of rows the ``created_at`` BRIN is all it takes, and a bitmap of the
    tenant's whole history from the tenant index costs more than it saves (26 -> 2 ms for
    a 1M-row tenant): coalesce() keeps that index out, as in ``_read``. Over 24 hours the
    planner's own mix is as good or better, so it is left to choose.
    """
    if not ids:
        return []
    connection = connections[using]
    marks, values = _in_list(ids, connection)
    tenant = "coalesce(tenant_id, tenant_id)" if short else "tenant_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {group}, {aggregate_select()} FROM model_usage_stats "
            f"WHERE created_at >= %s AND {tenant} IN ({marks}) GROUP BY {group}",
            [connection.ops.adapt_datetimefield_value(since), *values],
        )
        return cursor.fetchall()


def last_24h(*, tenants, now: datetime | None = None, using: str = "default") -> list[dict]:
    """Per tenant, provider and model over the last 24 hours, from raw rows.

    Dicts with ``tenant_id``, ``provider``, ``model`` and the figures of ``time_series``.
    """
    since = (now or timezone.now()) - timedelta(hours=24)
    names = _models(using)
    rows = []
    for row in _raw_groups(_tenant_ids(tenants), since, "tenant_id, model_id", using):
        agg = Agg()
        agg.add(row[2:])
        rows.append({
            "tenant_id": uuid.UUID(str(row[0])),  # SQLite gives 32 hex digits
            "provider": names[row[1]][0],
            "model": names[row[1]][1],
            **agg.as_dict(),
        })
    rows.sort(key=lambda d: (str(d["tenant_id"]), d["provider"], d["model"]))
    return rows


def current_rates(
    *,
    tenants,
    window: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
    using: str = "default",
) -> dict[str, dict]:
    """Error and rate-limit rates per provider over the last ``window`` (raw rows).

    ``{provider: {"requests", "errors", "rate_limited", "error_rate", "rate_limited_rate"}}``
    where errors are attempts that neither succeeded nor were rate-limited nor cancelled by
    the caller, and rates are fractions (0.0-1.0; None without requests). Key ``"all"``
    sums every provider.
    """
    since = (now or timezone.now()) - window
    names = _models(using)
    per_provider: dict[str, Agg] = {"all": Agg()}
    short = window <= timedelta(hours=1)
    for row in _raw_groups(_tenant_ids(tenants), since, "model_id", using, short=short):
        per_provider.setdefault(names[row[0]][0], Agg()).add(row[1:])
        per_provider["all"].add(row[1:])
    result = {}
    for provider, agg in per_provider.items():
        errors = agg.failed - agg.rate_limited
        result[provider] = {
            "requests": agg.requests,
            "errors": errors,
            "rate_limited": agg.rate_limited,
            "error_rate": errors / agg.requests if agg.requests else None,
            "rate_limited_rate": agg.rate_limited / agg.requests if agg.requests else None,
        }
    return result


def period_usage(
    *,
    tenants,
    start: datetime,
    end: datetime,
    tz: str | None = None,
    bucket: str = "hour",
    by_tenant: bool = False,
    using: str = "default",
) -> dict:
    """All the operator dashboard (llm_routing/screens) shows for [start, end), in one read.

    ``start`` and ``end`` are aware datetimes; the summary's grain is the UTC hour, so an
    hour counts when it starts inside the interval. Returns ``{"buckets": {local hour
    (aware) or local date: figures}, "by_model": [...], "by_provider": [...], "all":
    figures}`` with the figures of ``time_series``; ``by_model`` rows also carry
    ``provider`` and ``model`` (busiest first), ``by_provider`` rows ``provider``. Unlike
    percentiles taken per model, the per-provider and overall p50/p95 (latency and TTFT)
    come from the merged histograms, so they are true percentiles of the group.

    ``by_tenant``: also ``"by_tenant": [{"tenant_id": UUID, **figures}]`` over the whole
    period, busiest first, for the tenants that have usage in it (same statement, same
    snapshot, so the per-tenant rows add up to ``all``).
    """
    if bucket not in ("day", "hour"):
        raise ValueError("bucket must be 'day' or 'hour'")
    zone = _zone(tenants, tz)
    names = _models(using)
    buckets = _buckets_between(start, end, zone, bucket)
    rows, tenant_rows = _read(
        _tenant_ids(tenants), [(lo, hi) for lo, hi, _ in buckets], using, by_tenant=by_tenant
    )
    cells: dict[tuple, Agg] = {}
    for row in rows:
        key = (buckets[row[0]][2], row[1])
        agg = cells.get(key)
        if agg is None:
            agg = cells[key] = Agg()
        agg.add(row[2:])
    # Every other grouping is a sum of these (bucket, model) cells: few, whatever the rows.
    per_bucket: dict = {}
    per_model: dict[int, Agg] = {}
    per_provider: dict[str, Agg] = {}
    overall = Agg()
    for (key, model_id), agg in cells.items():
        for group, group_key in (
            (per_bucket, key),
            (per_model, model_id),
            (per_provider, names[model_id][0]),
        ):
            group.setdefault(group_key, Agg()).add(agg.values)
        overall.add(agg.values)
    by_model = [
        {"provider": names[m][0], "model": names[m][1], **agg.as_dict()}
        for m, agg in per_model.items()
    ]
    by_model.sort(key=lambda d: (-d["requests"], d["provider"], d["model"]))
    by_provider = [{"provider": p, **agg.as_dict()} for p, agg in sorted(per_provider.items())]
    result = {
        "buckets": {key: agg.as_dict() for key, agg in per_bucket.items()},
        "by_model": by_model,
        "by_provider": by_provider,
        "all": overall.as_dict(),
    }
    if by_tenant:
        result["by_tenant"] = _per_tenant(tenant_rows)
    return result


def _per_tenant(rows) -> list[dict]:
    per_tenant = []
    for row in rows:
        agg = Agg()
        agg.add(row[1:])
        # SQLite gives 32 hex digits.
        per_tenant.append({"tenant_id": uuid.UUID(str(row[0])), **agg.as_dict()})
    per_tenant.sort(key=lambda d: (-d["requests"], str(d["tenant_id"])))
    return per_tenant


# --- budgets (issue 12) ------------------------------------------------------------------------


def budget_status(tenant: Tenant, now: datetime | None = None) -> list[dict]:
    """Each budget of ``tenant`` in its window containing ``now``: the limit, what is spent
    (and of that, estimated for models without a price), what live holds reserve now,
    refusals, the projection to the window's end at the pace so far (spent / elapsed x
    the window's length), and the alerts fired in the window. Figures in USD (Decimal).

    A hold counts while renewed within ``USAGE_BUDGET_HOLD_SECONDS`` of the wall clock,
    as admissions count it (usage/budgets.py)."""
    now = now or timezone.now()
    live_since = timezone.now() - timedelta(seconds=hold_seconds())
    result = []
    for budget in Budget.objects.filter(tenant=tenant).order_by("period"):
        starts_at, ends_at = window_bounds(budget.period, tenant.timezone, now)
        window = BudgetWindow.objects.filter(
            tenant=tenant, period=budget.period, starts_at=starts_at
        ).first()
        spent = window.spent_pusd if window else 0
        reserved = 0
        alerts: list = []
        if window is not None:
            reserved = sum(
                BudgetHold.objects.filter(window=window, renewed_at__gte=live_since)
                .values_list("amount_pusd", flat=True)
            )
            alerts = list(BudgetAlert.objects.filter(window=window).order_by("threshold"))
        limit = budget.limit_pusd
        length = (ends_at - starts_at).total_seconds()
        elapsed = min(max((now - starts_at).total_seconds(), 0.0), length)
        projected = round(spent * length / elapsed) if elapsed > 0 else None
        result.append(
            {
                "budget": budget,
                "period": budget.period,
                "period_label": budget.get_period_display(),
                "hard": budget.mode == Budget.Mode.HARD,
                "mode_label": budget.get_mode_display(),
                "starts_at": starts_at,
                "ends_at": ends_at,
                "limit_usd": budget.limit_usd,
                "spent_usd": usd_from_pico(spent),
                "used_percent": round(100 * spent / limit, 1) if limit else None,
                "reserved_usd": usd_from_pico(reserved),
                "estimated_usd": usd_from_pico(window.estimated_pusd if window else 0),
                "refused": window.refused if window else 0,
                "elapsed_percent": round(100 * elapsed / length, 1) if length else None,
                "projected_usd": None if projected is None else usd_from_pico(projected),
                "projected_percent": (
                    round(100 * projected / limit, 1) if projected is not None and limit else None
                ),
                "thresholds": parse_thresholds(budget.alert_thresholds),
                "alerts": alerts,
            }
        )
    return result


def budget_alert_history(tenant: Tenant, limit: int = 50) -> list:
    """The tenant's latest budget alerts, newest first, with their windows."""
    return list(
        BudgetAlert.objects.filter(tenant=tenant).select_related("window")
        .order_by("-fired_at", "-pk")[:limit]
    )


def current_budget_alerts(tenants, now: datetime | None = None) -> list:
    """Alerts fired in windows still open at ``now``, for the tenants given (already scoped
    to the requesting user): what the admin's banners show. The highest threshold of each
    window only, newest first."""
    now = now or timezone.now()
    # A queryset of tenants (every admin page asks with the user's) stays a subquery.
    scope = tenants.values("pk") if isinstance(tenants, QuerySet) else _tenant_ids(tenants)
    alerts = (
        BudgetAlert.objects.filter(
            tenant_id__in=scope, window__starts_at__lte=now, window__ends_at__gt=now
        )
        .select_related("window", "tenant")
        .order_by("window_id", "-threshold")
    )
    top: dict[int, object] = {}
    for alert in alerts:
        top.setdefault(alert.window_id, alert)
    return sorted(top.values(), key=lambda a: a.fired_at, reverse=True)
