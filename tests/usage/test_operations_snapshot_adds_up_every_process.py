"""With PROMETHEUS_MULTIPROC_DIR set, a snapshot taken by the cron job's own process holds
the figures of every process that wrote there (usage/operations.py): two "workers" record
cache lookups and sampled track() costs, exit, and the snapshot adds them up."""

import subprocess

import pytest

from tests.usage.conftest import PYTHON, child_env, database_url
from usage.models import OperationsSnapshot

pytestmark = [pytest.mark.slow]

WORKER = """
import django
django.setup()
import usage
from config import metrics
for _ in range({hits}):
    metrics.cache("decrypted_key", True)
metrics.cache("decrypted_key", False)
usage._caller_costs.extend([0.000002] * {sampled})
metrics.families()  # applies the queue and the samples to this process's files
"""


def _run(code: str, env: dict) -> None:
    done = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_snapshot_sums_the_figures_of_every_process(transactional_db, catalogue_prices,
                                                       tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = child_env(PROMETHEUS_MULTIPROC_DIR=directory, DATABASE_URL=database_url(),
                    USAGE_SPILL_DIR=tmp_path / "spill")
    _run(WORKER.format(hits=3, sampled=2), env)
    _run(WORKER.format(hits=4, sampled=5), env)
    _run("import django; django.setup()\n"
         "from django.core.management import call_command\n"
         "call_command('snapshot_operations')", env)
    [snapshot] = OperationsSnapshot.objects.all()
    figures = snapshot.figures
    assert figures["metrics_scope"] == "all processes"
    assert figures["cache"]["decrypted_key"] == {"hit": 7.0, "miss": 2.0}
    assert figures["histograms"]["track_caller_seconds"]["count"] == 7.0
