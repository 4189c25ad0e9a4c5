"""The Operations screen (llm_routing/screens/operations.py): superusers only; trends drawn
from stored snapshots; an empty history and bad input explained, never a 500."""

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from usage.models import OperationsSnapshot
from usage.operations_trends import quantile

URL = reverse("screens:operations")


def _histogram(bounds, counts):
    """Cumulative buckets from per-bucket counts (the last bound is +Inf)."""
    total, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=True):
        total += count
        buckets.append([bound, total])
    return {"buckets": buckets, "count": total, "sum": 0.0}


TRACK_BOUNDS = ["1e-06", "2.5e-06", "5e-06", "1e-05", "+Inf"]
ROUTER_BOUNDS = ["0.0001", "0.00025", "0.0005", "0.001", "+Inf"]


def figures(i: int) -> dict:
    """The i-th snapshot of a steadily growing system: every interval adds the same calls
    (track: 60 in 1-2.5 us, 40 in 2.5-5 us; router: 90 in 0.1-0.25 ms, 10 in 0.5-1 ms)."""
    empty = {"buckets": [["1", 0], ["+Inf", 0]], "count": 0, "sum": 0.0}
    return {
        "version": 1,
        "metrics_scope": "all processes",
        "histograms": {
            "track_caller_seconds": _histogram(TRACK_BOUNDS, [0, 60 * i, 40 * i, 0, 0]),
            "router_overhead_seconds": _histogram(ROUTER_BOUNDS, [0, 90 * i, 0, 10 * i, 0]),
            "batch_write_seconds": empty,
            "summary_refresh_seconds": empty,
        },
        "cache": {
            "routing_view": {"hit": 90 * i, "miss": 10 * i},
            "model_list": {"hit": 50 * i, "miss": 50 * i},
            "decrypted_key": {"hit": 99 * i, "miss": 1 * i},
        },
        "tracker": {"written": 100 * i, "spilled": 5 * i, "replayed": 0, "dropped": i},
        "queue_depth": 3,
        "sizes": {
            "method": "postgresql",
            "tables": {
                "model_usage_stats": {"table": 1_000_000 + 24_000_000 * i, "indexes": 100_000},
                "model_usage_summary": {"table": 50_000, "indexes": 10_000},
                "model_usage_day_summary": {"table": 5_000, "indexes": 1_000},
            },
        },
        "ledger": {"last_write_at": (timezone.now() - timedelta(seconds=5)).isoformat()},
        "summary": {"watermark": 1000 * i, "refreshed_at": timezone.now().isoformat(),
                    "refresh_seconds": 0.5 + i / 10, "lag_seconds": 30.0 * i},
        "spill": {"directory": "/srv/spill", "host": "web-1", "files_waiting": 2,
                  "bytes_waiting": 2048, "refused_records": 7},
    }


def seed_snapshots(count: int = 5, every: timedelta = timedelta(hours=6)) -> None:
    """``count`` snapshots ``every`` apart, the last a minute ago: the ledger grows 24 MB per
    snapshot, i.e. 96 MB a day at 6-hour intervals."""
    last = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    for i in range(count):
        OperationsSnapshot.objects.create(
            taken_at=last - every * (count - 1 - i), figures=figures(i + 1)
        )


@pytest.fixture
def su_client(client, superuser):
    client.force_login(superuser)
    return client


def _chart(response, name: str) -> dict:
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>',
                      response.content.decode(), flags=re.S)
    assert found, f"no chart {name}"
    return json.loads(found.group(1))


def test_only_superusers_see_the_screen(client, staff_a, superuser, db):
    assert client.get(URL).status_code == 302  # anonymous: the admin's login
    client.force_login(staff_a)
    assert client.get(URL).status_code == 403
    owner = get_user_model().objects.create_user(
        username="not-staff", password="x", is_superuser=True, is_staff=False
    )
    client.force_login(owner)
    assert client.get(URL).status_code == 302
    client.force_login(superuser)
    assert client.get(URL).status_code == 200


def test_snapshots_from_before_the_key_cache_was_counted_still_draw(su_client):
    """Snapshots of an older release have no "api_key" cache figures: the screen draws
    them (no hit rate where either side of an interval lacks it), then the newer ones."""
    seed_snapshots(count=4)
    for snapshot in OperationsSnapshot.objects.order_by("taken_at")[2:]:
        i = snapshot.figures["tracker"]["dropped"]
        snapshot.figures["cache"]["api_key"] = {"hit": 98 * i, "miss": 2 * i}
        snapshot.save()
    response = su_client.get(URL, {"period": "7d"})
    assert response.status_code == 200
    caches = {s["key"]: s["values"] for s in _chart(response, "chart-caches")["series"]}
    assert caches["api_key"] == [None, None, None, 98.0]
    assert caches["decrypted_key"][1:] == [99.0] * 3
    assert "Bearer keys" in response.content.decode()


def test_no_snapshots_yet_says_which_job_takes_them(su_client, settings):
    settings.OPS_SNAPSHOT_MINUTES = 5
    response = su_client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "No snapshots yet" in text and "snapshot_operations" in text
    assert "every 5 min" in text


def test_trends_come_from_the_stored_snapshots(su_client, settings):
    settings.USAGE_RETENTION_DAYS = 90
    seed_snapshots()
    response = su_client.get(URL, {"period": "7d"})
    assert response.status_code == 200
    track = _chart(response, "chart-track")
    assert len(track["x"]) == 5
    p50 = {s["key"]: s["values"] for s in track["series"]}["p50"]
    # Every interval: 60 of 100 calls in (1, 2.5] us, the rest in (2.5, 5] us.
    assert p50[0] is None  # the first snapshot has nothing before it
    assert p50[1:] == [pytest.approx(1 + 1.5 * 50 / 60, abs=1e-3)] * 4
    router = {s["key"]: s["values"] for s in _chart(response, "chart-router")["series"]}
    assert router["p99"][1:] == [pytest.approx(0.5 + 0.5 * 9 / 10, abs=1e-3)] * 4
    caches = {s["key"]: s["values"] for s in _chart(response, "chart-caches")["series"]}
    assert caches["routing_view"][1:] == [90.0] * 4 and caches["model_list"][1:] == [50.0] * 4
    assert caches["decrypted_key"][-1] == 99.0
    sizes = {s["key"]: s["values"] for s in _chart(response, "chart-sizes")["series"]}
    assert sizes["ledger-table"] == [1_000_000 + 24_000_000 * i for i in range(1, 6)]
    tracker = {s["key"]: s["values"] for s in _chart(response, "chart-tracker")["series"]}
    assert tracker["spilled"][1:] == [5] * 4 and tracker["dropped"][1:] == [1] * 4
    [lag] = _chart(response, "chart-lag")["series"]
    assert lag["values"] == [30.0, 60.0, 90.0, 120.0, 150.0]
    [refresh] = _chart(response, "chart-refresh")["series"]
    assert refresh["values"] == [0.6, 0.7, 0.8, 0.9, 1.0]
    # Growth: 24 MB every 6 hours is 96 MB a day; 90 days of it at the retention limit.
    ledger = response.context["growth"][0]
    assert ledger.per_day_bytes == pytest.approx(96_000_000)
    assert ledger.projected_bytes == pytest.approx(96_000_000 * 90)
    summaries = response.context["growth"][1]
    assert summaries.per_day_bytes == 0 and summaries.projected_bytes == 66_000
    text = response.content.decode()
    assert "all processes" in text and "histogram buckets" in text
    assert 'data-field="refused">7' in text and 'data-field="files_waiting">2' in text


def test_a_metrics_restart_between_snapshots_is_no_negative_interval(su_client):
    seed_snapshots(count=3)
    last = OperationsSnapshot.objects.order_by("-taken_at").first()
    last.figures = figures(1)  # the counters began again from zero
    last.save()
    response = su_client.get(URL)
    caches = {s["key"]: s["values"] for s in _chart(response, "chart-caches")["series"]}
    tracker = {s["key"]: s["values"] for s in _chart(response, "chart-tracker")["series"]}
    assert caches["routing_view"][-1] == 90.0 and tracker["spilled"][-1] == 5


def test_a_long_history_is_thinned_but_keeps_its_ends(su_client):
    seed_snapshots(count=300, every=timedelta(minutes=15))
    response = su_client.get(URL, {"period": "7d"})
    sizes = {s["key"]: s["values"] for s in _chart(response, "chart-sizes")["series"]}
    assert len(sizes["ledger-table"]) == 240
    assert sizes["ledger-table"][0] == 1_000_000 + 24_000_000
    assert sizes["ledger-table"][-1] == 1_000_000 + 24_000_000 * 300


@pytest.mark.parametrize(
    "query", [{"period": "1y"}, {"period": "7d\x00"}, {"period": "7" * 5000}, {"period": "' OR 1"}]
)
def test_a_bad_period_is_a_clear_error_not_a_500(su_client, query):
    seed_snapshots(count=2)
    response = su_client.get(URL, query)
    assert response.status_code == 400
    text = response.content.decode()
    assert 'id="period-error"' in text and "Last 7 days" in text
    assert len(_chart(response, "chart-sizes")["x"]) == 2  # the default period, drawn


def test_a_post_is_refused(su_client):
    assert su_client.post(URL).status_code == 405


def test_quantiles_interpolate_within_the_bucket_like_prometheus():
    buckets = [["1", 0], ["2", 50], ["4", 100], ["+Inf", 100]]
    assert quantile(buckets, 0.5) == 2.0
    assert quantile(buckets, 0.75) == 3.0
    assert quantile([["1", 0], ["+Inf", 10]], 0.5) == 1.0  # past the last bound: the bound
    assert quantile([["1", 0], ["+Inf", 0]], 0.5) is None


def test_one_snapshot_shows_its_figures_and_says_trends_come_next(su_client):
    seed_snapshots(count=1)
    response = su_client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="one-snapshot"' in text and 'data-field="refused">7' in text
    assert _chart(response, "chart-track")["series"][0]["values"] == [None]


def test_without_dbstat_the_whole_file_is_shown_as_an_estimate(su_client):
    seed_snapshots(count=2)
    for snapshot in OperationsSnapshot.objects.all():
        snapshot.figures["sizes"] = {
            "method": "estimate", "tables": {"database": {"table": 4096, "indexes": 0}}
        }
        snapshot.save()
    response = su_client.get(URL)
    labels = [g.label for g in response.context["growth"]]
    assert labels[-1] == "Whole database file (estimate)"
    assert response.context["growth"][-1].current_bytes == 4096
    assert "no <code>dbstat</code>" in response.content.decode()
