import threading
import time

import usage
import usage.tracker


def test_threads_racing_to_the_first_track_share_one_tracker(monkeypatch):
    class SlowTracker(usage.tracker.Tracker):
        def __init__(self, *args, **kwargs):
            time.sleep(0.05)  # widen the window in which a second thread could build another
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(usage.tracker, "Tracker", SlowTracker)
    monkeypatch.setattr(usage, "_tracker", None)
    start = threading.Barrier(8)
    seen = []

    def first_use():
        start.wait()
        seen.append(usage.get_tracker())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(tracker) for tracker in seen}) == 1
    assert seen[0] is usage.get_tracker()
