"""State the router shares between processes (web workers, cron): one row per tenant and
provider, changed only with single atomic UPDATE statements."""

from __future__ import annotations

from django.db import models


class ProviderState(models.Model):
    """Today's use of one provider by one tenant, and whether it is cooling down.

    ``window_ends_at`` closes the counting window: UTC midnight by default, or the reset
    a provider reports in its own headers (Groq's daily request window). When a provider
    reports its limit and what remains, ``requests_used`` is set to what it says and
    ``reported_limit`` keeps the limit.

    ``leased`` is the part of ``requests_used`` that processes have counted ahead and not
    yet spent (quota leases, llm_routing/leases.py): ``requests_used - leased`` is what was
    really sent.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    provider = models.CharField(max_length=32)
    window_ends_at = models.DateTimeField(null=True, blank=True)
    requests_used = models.BigIntegerField(default=0)
    leased = models.BigIntegerField(default=0)
    tokens_used = models.BigIntegerField(default=0)
    reported_limit = models.BigIntegerField(null=True, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    cooldown_reason = models.CharField(max_length=200, blank=True, default="")
    last_429_at = models.DateTimeField(null=True, blank=True)
    # Timeouts, 5xx and connection errors in a row (the circuit breaker, state.record):
    # past LLM_BREAKER_FAILURES the provider rests for a growing interval.
    failures = models.IntegerField(default=0)

    class Meta:
        db_table = "llm_provider_state"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider"], name="unique_provider_state")
        ]

    def __str__(self) -> str:
        return f"{self.provider} for {self.tenant_id}"


class RateCounter(models.Model):
    """A fixed-window request counter shared by all processes (API rate limits)."""

    key = models.CharField(max_length=200, unique=True)
    window_ends_at = models.DateTimeField()
    count = models.IntegerField(default=0)

    class Meta:
        db_table = "llm_rate_counter"

    def __str__(self) -> str:
        return self.key
