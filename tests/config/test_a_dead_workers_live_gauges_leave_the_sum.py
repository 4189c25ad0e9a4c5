"""In multiprocess mode a live gauge (``usage_tracker_queue_depth``, summed over live
processes) must not keep counting a worker that died without saying so (SIGKILL, an OOM
kill): /metrics drops the figures of processes that are gone (config/metrics.py)."""

import subprocess

from tests.usage.conftest import PYTHON, child_env

SET_AND = """
import os, signal, sys
import django
django.setup()
from config import metrics
metrics.TRACKER_QUEUE.set({depth})
{then}
"""
DIE = "os.kill(os.getpid(), signal.SIGKILL)"
WAIT = "print('ready', flush=True); sys.stdin.read()"
SCRAPE = """
import django
django.setup()
from config import metrics
for line in metrics.exposition().decode().splitlines():
    if line.startswith("usage_tracker_queue_depth "):
        print(line.split()[1])
"""


def test_a_killed_workers_queue_depth_leaves_the_sum(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = child_env(PROMETHEUS_MULTIPROC_DIR=directory, METRICS_ENABLED="true")
    killed = subprocess.Popen([PYTHON, "-c", SET_AND.format(depth=7, then=DIE)], env=env)
    assert killed.wait(timeout=60) == -9
    alive = subprocess.Popen([PYTHON, "-c", SET_AND.format(depth=3, then=WAIT)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout.readline().strip() == "ready"
        assert len(list(directory.glob("gauge_livesum_*.db"))) == 2
        scraped = subprocess.run([PYTHON, "-c", SCRAPE], env=env, capture_output=True,
                                 text=True, timeout=60)
        assert scraped.returncode == 0, scraped.stderr[-2000:]
        assert float(scraped.stdout.split()[0]) == 3.0  # the killed worker's 7 is gone
        assert not (directory / f"gauge_livesum_{killed.pid}.db").exists()
        assert (directory / f"gauge_livesum_{alive.pid}.db").exists()  # it still counts
    finally:
        alive.stdin.close()
        alive.wait(timeout=30)
