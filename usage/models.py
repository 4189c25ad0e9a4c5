"""The usage ledger's tables: one compact row per LLM attempt, prices, hourly summaries.

Row size matters here (millions of rows), so ``ModelUsageStat`` stores small codes instead
of strings: the provider and model name live once in ``ProviderModel`` and a row keeps a
4-byte id; status and cost source are 2-byte integers; cost is an exact integer count of
pico-dollars (1e-12 USD), which sums exactly on PostgreSQL and SQLite alike (SQLite has no
exact decimal type). Columns are ordered widest-alignment first so PostgreSQL adds little
padding; PostgreSQL appends the columns added later (the foreign keys, then ``ttft_ms``
and ``tokens_estimated``, then ``cached_tokens`` and ``reasoning_tokens``), see
docs/usage.md for the bytes. The foreign keys have no
database constraint: a ledger outlives what it records, and a per-row RI trigger would
halve COPY throughput.

``seq`` is the insertion sequence (a PostgreSQL sequence default; a trigger on SQLite), the
watermark the summary refresh follows: late rows with an old ``created_at`` still get a new
``seq``. Indexes beyond the primary key are created per database in migration 0002 (BRIN
on PostgreSQL), see docs/usage.md.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from usage.ids import record_id
from usage.money import usd_from_pico
from usage.statuses import COUNT_FIELD, NOT_FAILED, Status

PICO = Decimal("1e-12")


class CostSource(models.IntegerChoices):
    UNKNOWN = 0, "unknown"
    PRICE_TABLE = 1, "price_table"
    PROVIDER = 2, "provider"


COST_SOURCE_CODES = {label: value for value, label in CostSource.choices}


def pico_to_usd(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) * PICO).normalize()


class ProviderModel(models.Model):
    """A (provider, model name) pair, stored once; usage rows point at it."""

    provider = models.CharField(max_length=32)
    name = models.CharField(max_length=200)

    class Meta:
        db_table = "usage_provider_models"
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="unique_provider_model")
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.name}"


class ModelUsageStat(models.Model):
    """One attempt at one provider. Written only through ``usage.track`` (the tracker)."""

    seq = models.BigIntegerField(editable=False, null=True, db_default=None)
    created_at = models.DateTimeField()
    cost_pusd = models.BigIntegerField(null=True, blank=True)
    # Client-generated (time-ordered, random tail): a replayed record conflicts with itself.
    id = models.UUIDField(primary_key=True, default=record_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    request_id = models.UUIDField()
    prompt_tokens = models.IntegerField(default=0)
    completion_tokens = models.IntegerField(default=0)
    latency_ms = models.IntegerField(default=0)
    model = models.ForeignKey(
        ProviderModel,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    attempt = models.SmallIntegerField(default=1)
    status = models.SmallIntegerField(choices=Status.choices)
    cost_source = models.SmallIntegerField(choices=CostSource.choices, default=CostSource.UNKNOWN)
    error_type = models.CharField(max_length=40, blank=True, default="")
    # Added by migration 0007 (stored after every column above).
    # Streams only: ms from sending the request to the first content; null otherwise.
    ttft_ms = models.IntegerField(null=True, blank=True)
    # The provider sent no token figures (a stream cancelled or cut, or without its usage
    # chunk): the counts are estimates from the text, never a silent 0.
    tokens_estimated = models.BooleanField(default=False, db_default=False)
    # Added by migration 0010. Of prompt_tokens, those read from the provider's cache; of
    # completion_tokens, those spent on reasoning. Null when none were reported (0 is stored
    # as null): most rows have neither, and a null costs no bytes in a row that already has
    # a null bitmap (see docs/usage.md).
    cached_tokens = models.IntegerField(null=True, blank=True)
    reasoning_tokens = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "model_usage_stats"
        verbose_name = "usage row"

    def __str__(self) -> str:
        return f"{self.model} {self.get_status_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_usd(self) -> Decimal | None:
        return pico_to_usd(self.cost_pusd)


MAX_PRICE_PER_MILLION = Decimal("100000")
"""The highest price per million tokens a form takes (no model is near it: the dearest list
prices are in the hundreds); beyond it a price is a typo, and a cost could pass the
ledger's bigint (usage/pricing.py treats that as unknown)."""

_PRICE_FIELD = {
    "max_digits": 12,
    "decimal_places": 6,
    "validators": [MinValueValidator(0), MaxValueValidator(MAX_PRICE_PER_MILLION)],
}
_NOT_NEGATIVE = (
    models.Q(input_per_million__gte=0, output_per_million__gte=0)
    & (models.Q(cached_input_per_million__isnull=True) | models.Q(cached_input_per_million__gte=0))
    & (models.Q(reasoning_per_million__isnull=True) | models.Q(reasoning_per_million__gte=0))
)


class PriceColumns(models.Model):
    """USD per million tokens of each class, and when they start to apply.

    Cached input and reasoning output are optional: left empty, cached input tokens cost
    the input price and reasoning tokens the output price (usage/pricing.py).
    """

    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField("USD per million input tokens", **_PRICE_FIELD)
    output_per_million = models.DecimalField("USD per million output tokens", **_PRICE_FIELD)
    cached_input_per_million = models.DecimalField(
        "USD per million cached input tokens",
        null=True,
        blank=True,
        help_text="Empty: cached input tokens cost the input price.",
        **_PRICE_FIELD,
    )
    reasoning_per_million = models.DecimalField(
        "USD per million reasoning tokens",
        null=True,
        blank=True,
        help_text="Empty: reasoning tokens cost the output price.",
        **_PRICE_FIELD,
    )
    effective_from = models.DateTimeField()

    class Meta:
        abstract = True


class Price(PriceColumns):
    """A list price in force from ``effective_from`` until the next row for the same model."""

    source = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "usage_prices"
        ordering = ["provider", "model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "effective_from"], name="unique_price_start"
            ),
            models.CheckConstraint(condition=_NOT_NEGATIVE, name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d}"


class TenantPrice(PriceColumns):
    """A tenant's own price for a model (a negotiated discount, a self-hosted model's
    internal price): from ``effective_from`` on it replaces the list price for that tenant's
    rows, until the tenant's next price for the same model. Before its first one, the list
    price applies."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "usage_tenant_prices"
        verbose_name = "tenant price"
        ordering = ["tenant", "provider", "model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider", "model", "effective_from"],
                name="unique_tenant_price_start",
            ),
            models.CheckConstraint(condition=_NOT_NEGATIVE, name="tenant_price_not_negative"),
        ]

    def __str__(self) -> str:
        start = f"{self.effective_from:%Y-%m-%d}"
        return f"{self.provider}/{self.model} for tenant {self.tenant_id} from {start}"


LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 20000,
                      30000, 60000)
"""Upper bounds (inclusive) of the latency histogram; a last bucket takes everything above."""

HISTOGRAM_FIELDS = tuple(f"lat_b{i:02d}" for i in range(len(LATENCY_BUCKETS_MS) + 1))
TTFT_HISTOGRAM_FIELDS = tuple(f"ttft_b{i:02d}" for i in range(len(LATENCY_BUCKETS_MS) + 1))
"""Time to first token of streamed attempts, in the latency histogram's buckets."""


class SummaryFigures(models.Model):
    """What both summaries hold per tenant and model: additive counts (one per status,
    ``usage.statuses.COUNT_FIELD``), tokens, known cost in pico-dollars, rows without a
    price, rows whose token counts are estimates, the cached-input and reasoning tokens among
the tokens, a latency histogram (``lat_b00``..
    ``lat_b15``), and for streamed attempts (those with a time to first token) their count,
    TTFT sum and TTFT histogram (``ttft_b00``..``ttft_b15``). usage/aggregates.py computes
    them all.

    The unique (tenant, period, model) index of each concrete summary serves every lookup,
    so the foreign keys carry no indexes of their own.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    model = models.ForeignKey(
        ProviderModel,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    requests = models.IntegerField(default=0)
    successes = models.IntegerField(default=0)
    rate_limited = models.IntegerField(default=0)
    timeouts = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    auth_errors = models.IntegerField(default=0)
    invalid_requests = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    budget_refused = models.IntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    latency_ms_sum = models.BigIntegerField(default=0)
    cost_pusd = models.BigIntegerField(default=0)
    cost_unknown = models.IntegerField(default=0)
    tokens_estimated = models.IntegerField(default=0)
    streamed = models.IntegerField(default=0)
    ttft_ms_sum = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    lat_b00 = models.IntegerField(default=0)
    lat_b01 = models.IntegerField(default=0)
    lat_b02 = models.IntegerField(default=0)
    lat_b03 = models.IntegerField(default=0)
    lat_b04 = models.IntegerField(default=0)
    lat_b05 = models.IntegerField(default=0)
    lat_b06 = models.IntegerField(default=0)
    lat_b07 = models.IntegerField(default=0)
    lat_b08 = models.IntegerField(default=0)
    lat_b09 = models.IntegerField(default=0)
    lat_b10 = models.IntegerField(default=0)
    lat_b11 = models.IntegerField(default=0)
    lat_b12 = models.IntegerField(default=0)
    lat_b13 = models.IntegerField(default=0)
    lat_b14 = models.IntegerField(default=0)
    lat_b15 = models.IntegerField(default=0)
    ttft_b00 = models.IntegerField(default=0)
    ttft_b01 = models.IntegerField(default=0)
    ttft_b02 = models.IntegerField(default=0)
    ttft_b03 = models.IntegerField(default=0)
    ttft_b04 = models.IntegerField(default=0)
    ttft_b05 = models.IntegerField(default=0)
    ttft_b06 = models.IntegerField(default=0)
    ttft_b07 = models.IntegerField(default=0)
    ttft_b08 = models.IntegerField(default=0)
    ttft_b09 = models.IntegerField(default=0)
    ttft_b10 = models.IntegerField(default=0)
    ttft_b11 = models.IntegerField(default=0)
    ttft_b12 = models.IntegerField(default=0)
    ttft_b13 = models.IntegerField(default=0)
    ttft_b14 = models.IntegerField(default=0)
    ttft_b15 = models.IntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def failed(self) -> int:
        """Attempts that failed (neither succeeded nor were cancelled by the caller)."""
        return self.requests - sum(getattr(self, COUNT_FIELD[s]) for s in NOT_FAILED)


class ModelUsageSummary(SummaryFigures):
    """Per tenant, model and UTC hour: counts, tokens, a latency histogram, cost.

    Everything is additive, so incremental refreshes upsert deltas and any period (a tenant's
    local day, a month) is a sum of hours. Cost is a sum of known costs in pico-dollars;
    ``cost_unknown`` counts rows without a price.
    """

    hour = models.DateTimeField()

    class Meta:
        db_table = "model_usage_summary"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "hour", "model"], name="unique_usage_summary_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.model_id} {self.hour:%Y-%m-%d %H}:00Z"


class SummaryState(models.Model):
    """One row: how far the summary has read the raw rows (their ``seq``)."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    watermark = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True)
    # Raw rows before this were pruned: a rebuild never reaches back past it.
    pruned_before = models.DateTimeField(null=True)
    # How long the last refresh took (seconds), for the Operations screen's trend.
    refresh_seconds = models.FloatField(null=True)

    class Meta:
        db_table = "usage_summary_state"

    def __str__(self) -> str:
        return f"summarised through seq {self.watermark}"


class ModelUsageDaySummary(SummaryFigures):
    """Per tenant, model and UTC day: the sum of that day's ``ModelUsageSummary`` hours.

    Kept by the same refresh, in the same transaction (usage/summary.py). A 30-day read
    across every tenant sums some 12k of these rows instead of ~300k hours; hourly rows
    still serve partial days and days that are not UTC days. ``day`` is UTC midnight.
    """

    day = models.DateTimeField()

    class Meta:
        db_table = "model_usage_day_summary"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "model"], name="unique_usage_summary_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.model_id} {self.day:%Y-%m-%d}Z"


# --- budgets (usage/budgets.py keeps their books) ------------------------------------------


def validate_thresholds(value: str) -> None:
    from usage.budgets import parse_thresholds

    parse_thresholds(value)


class Budget(models.Model):
    """A tenant's spending limit for each day or month of its own time zone.

    ``hard`` refuses new requests once the window's spend reaches the limit; ``soft`` lets
    them through and only alerts. Alerts fire once per window at each threshold (percent).
    """

    class Period(models.TextChoices):
        DAY = "day", "Daily"
        MONTH = "month", "Monthly"

    class Mode(models.TextChoices):
        HARD = "hard", "Hard: refuse new requests once reached"
        SOFT = "soft", "Soft: allow, and alert"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="budgets")
    period = models.CharField(max_length=5, choices=Period.choices)
    limit_usd = models.DecimalField(
        "limit (USD)",
        max_digits=14,
        decimal_places=6,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1_000_000))],
    )
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.HARD)
    alert_thresholds = models.CharField(
        max_length=60,
        default="50,80,100",
        validators=[validate_thresholds],
        help_text="Percents of the limit at which an alert fires, once per window "
        "(comma-separated, 1 to 1000).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "usage_budgets"
        ordering = ["tenant", "period"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period"], name="unique_budget_period"),
            models.CheckConstraint(
                condition=models.Q(limit_usd__gte=0), name="budget_limit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_period_display()} budget of {self.limit_usd} USD ({self.mode})"

    @property
    def limit_pusd(self) -> int:
        return int(self.limit_usd * 10**12)


class BudgetWindow(models.Model):
    """One day or month of one tenant's budget (bounds in UTC, from the tenant's local
    midnights): what was spent in it, in pico-dollars, and the part of that which is an
    estimate (models without a price). What is reserved lives in ``BudgetHold`` rows."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    period = models.CharField(max_length=5, choices=Budget.Period.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    spent_pusd = models.BigIntegerField(default=0)
    estimated_pusd = models.BigIntegerField(default=0)
    refused = models.IntegerField(default=0)

    class Meta:
        db_table = "usage_budget_windows"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "period", "starts_at"], name="unique_budget_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.period} from {self.starts_at:%Y-%m-%d %H:%M}Z"


class BudgetHold(models.Model):
    """What one process has reserved in a window (worst cases of its calls in flight, and
    a lease it spends from without asking the database). A process renews its holds while
    it runs; a hold not renewed for ``USAGE_BUDGET_HOLD_SECONDS`` (a killed process) no
    longer counts and is removed."""

    window = models.ForeignKey(BudgetWindow, on_delete=models.CASCADE, related_name="holds")
    holder = models.CharField(max_length=40)
    amount_pusd = models.BigIntegerField(default=0)
    renewed_at = models.DateTimeField()

    class Meta:
        db_table = "usage_budget_holds"
        constraints = [
            models.UniqueConstraint(fields=["window", "holder"], name="unique_budget_hold")
        ]

    def __str__(self) -> str:
        return f"{self.holder} holds {self.amount_pusd} pUSD"


class BudgetAlert(models.Model):
    """A threshold reached in a window: fired once (the unique constraint), then delivered
    by email and webhook (``emailed_at``/``webhook_at`` say what went out;
    usage/budget_alerts.py)."""

    window = models.ForeignKey(BudgetWindow, on_delete=models.CASCADE, related_name="alerts")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    threshold = models.SmallIntegerField()  # percent of the limit
    fired_at = models.DateTimeField()
    spent_pusd = models.BigIntegerField()
    limit_pusd = models.BigIntegerField()
    mode = models.CharField(max_length=4, choices=Budget.Mode.choices)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=200, blank=True, default="")
    webhook_at = models.DateTimeField(null=True, blank=True)
    webhook_error = models.CharField(max_length=200, blank=True, default="")
    delivery_attempts = models.SmallIntegerField(default=0)
    # Not before this time: a deliverer's claim, then the back-off after a failure
    # (usage/budget_alerts.py); null: due now.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "usage_budget_alerts"
        ordering = ["-fired_at"]
        constraints = [
            models.UniqueConstraint(fields=["window", "threshold"], name="unique_budget_alert")
        ]

    def __str__(self) -> str:
        return f"{self.threshold}% of the {self.window.period} budget"

    @property
    def spent_usd(self) -> Decimal:
        return usd_from_pico(self.spent_pusd)

    @property
    def limit_usd(self) -> Decimal:
        return usd_from_pico(self.limit_pusd)


class OperationsSnapshot(models.Model):
    """The figures of the Operations screen at one moment (usage/operations.py).

    One row per minute at most (a second run in the same minute replaces it), taken by the
    ``snapshot_operations`` cron job and pruned after ``OPS_SNAPSHOT_RETENTION_DAYS``.
    ``figures`` is the JSON that ``operations.collect_figures`` builds: histograms and
    counters as the metrics hold them (cumulative), sizes in bytes, times in ISO 8601.
    """

    taken_at = models.DateTimeField(unique=True)
    figures = models.JSONField()

    class Meta:
        db_table = "usage_ops_snapshot"
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"operations snapshot at {self.taken_at:%Y-%m-%d %H:%M}Z"
