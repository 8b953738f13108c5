"""A burst run ends soon after the last job ends, even when another worker ran it.

Other workers' results need not wake it (stores promise a wake-up for new work only), so
a burst worker with only their jobs left looks again by itself: soon at first, then less
and less often."""

from __future__ import annotations

import logging
import time

import pytest

from queuectl.claiming import BURST_POLL_S
from queuectl.errors import StoreError
from queuectl.models import NewJob, RunResult
from queuectl.store import Store
from queuectl.timers import Duty
from queuectl.worker_options import WorkerOptions
from tests.helpers import stepped_worker


def test_a_burst_worker_looks_again_soon_while_others_jobs_run(
    store: Store, store_url: str
) -> None:
    store.set_config("poll-interval", "60")
    store.enqueue_jobs([NewJob(id="theirs", command="true")], 0)
    [held] = store.claim_jobs("other-worker", None, 1, 600)
    with stepped_worker(store_url, WorkerOptions(burst=True)) as worker:
        looks = []
        for _ in range(6):
            worker.timers.due_now(Duty.CLAIM)  # as if the time to look had come
            worker.claims.claim()  # nothing for us: the only job is theirs
            assert not worker.slots.ready
            assert not worker.claims.burst_done(results_held=False)
            looks.append(worker.timers.at(Duty.CLAIM) - time.monotonic())
        assert looks[0] <= BURST_POLL_S
        assert looks[-1] > 8 * BURST_POLL_S  # and less often while they go on
        assert max(looks) < 60  # far sooner than the poll interval
        now = time.time()
        store.complete_jobs("other-worker", [("theirs", held.last_attempt, _ok(now))])
        assert worker.claims.burst_done(results_held=False)


def _ok(now: float) -> RunResult:
    return RunResult(exit_code=0, error=None, started_at=now, finished_at=now)


def test_a_burst_worker_whose_check_for_unfinished_jobs_fails_logs_retries_and_gives_up(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store.set_config("poll-interval", "60")
    with stepped_worker(store_url, WorkerOptions(burst=True)) as worker:

        def failing(queues: object) -> bool:
            raise StoreError("database is on fire")

        worker.claims.claim()  # nothing to claim: the run may be over
        monkeypatch.setattr(worker.store, "has_unfinished_jobs", failing)
        with caplog.at_level(logging.WARNING, logger="queuectl.worker"):
            assert not worker.claims.burst_done(results_held=False)
        assert "database is on fire" in caplog.text  # said, not swallowed
        assert worker.timers.at(Duty.CLAIM) - time.monotonic() < 60  # looks again by itself
        lease = worker.settings.lease_seconds
        worker.claims.burst_check_failing_since = time.monotonic() - 2 * lease  # time passes
        with pytest.raises(StoreError, match=r"burst run gave up.*on fire"):
            worker.claims.burst_done(results_held=False)
