"""refresh_usage_summary feeds the summary metrics (config/metrics.py): its duration, the
rows it summarised, and the lag (age of the oldest raw row it has not summarised)."""

from datetime import timedelta

from django.utils import timezone

from config import metrics
from tests.usage.test_commands import _run, _write
from usage.models import ModelUsageStat
from usage.summary import summary_lag_seconds as _lag_seconds


def _sample(name) -> float:
    return metrics.REGISTRY.get_sample_value(name) or 0.0


def test_a_refresh_counts_its_rows_and_its_duration_and_leaves_no_lag(make_tenant):
    tenant = make_tenant()
    _write(tenant, at=timezone.now(), count=4)
    rows, runs = _sample("usage_summary_refresh_rows_total"), _sample(
        "usage_summary_refresh_duration_seconds_count")
    _run("refresh_usage_summary")
    assert _sample("usage_summary_refresh_rows_total") == rows + 4
    assert _sample("usage_summary_refresh_duration_seconds_count") == runs + 1
    assert _sample("usage_summary_lag_seconds") == 0


def test_the_lag_is_the_age_of_the_oldest_row_past_the_watermark(make_tenant):
    tenant = make_tenant()
    _write(tenant, at=timezone.now() - timedelta(minutes=10), count=1)
    _write(tenant, at=timezone.now(), count=1)
    first, second = ModelUsageStat.objects.order_by("seq").values_list("seq", flat=True)
    assert 590 <= _lag_seconds(first - 1) <= 3600
    assert _lag_seconds(first) < 590
    assert _lag_seconds(second) == 0
