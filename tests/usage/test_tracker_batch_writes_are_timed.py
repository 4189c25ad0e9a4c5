"""The tracker's writer times every batch it stores (``usage_tracker_batch_write_seconds``,
config/metrics.py): one observation per successful write, none for a failed one."""

from config import metrics
from tests.usage.conftest import raw_call
from usage.tracker import Tracker


def _count() -> float:
    metrics.flush()
    return metrics.REGISTRY.get_sample_value("usage_tracker_batch_write_seconds_count") or 0.0


def test_each_batch_written_is_one_observation(transactional_db, tmp_path, make_tenant,
                                               catalogue_prices):
    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=10, interval=0.01)
    before = _count()
    try:
        for i in range(25):
            tracker.track(raw_call(tenant.pk, i))
        assert tracker.flush(timeout=30)
    finally:
        tracker.stop(timeout=5)
    batches = tracker.stats()["batches"]
    assert batches >= 3 and tracker.stats()["written"] == 25
    assert _count() == before + batches
