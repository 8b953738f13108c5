"""A running job handed back by a cold stop ends pending, its attempt not counted; or
cancelled when its cancel was asked for before the worker heard of it (rules.released).
The worker's log and tally say which."""

from __future__ import annotations

import logging
import time

import pytest

from queuectl.models import JobState, NewJob, StopMode
from queuectl.service import jobs as job_service
from queuectl.store import Store
from queuectl.worker_options import WorkerOptions
from tests.helpers import stepped_worker


@pytest.mark.parametrize(
    ("cancel_asked", "ending", "said"),
    [
        (False, JobState.PENDING, "released to pending (attempt not counted)"),
        (True, JobState.CANCELLED, "cancelled (a cancel was asked for; attempt not counted)"),
    ],
    ids=["pending", "cancel-asked"],
)
def test_a_released_job_is_logged_as_what_it_became(
    store: Store,
    store_url: str,
    caplog: pytest.LogCaptureFixture,
    cancel_asked: bool,
    ending: JobState,
    said: str,
) -> None:
    caplog.set_level(logging.INFO, logger="queuectl.worker")
    store.enqueue_jobs([NewJob(id="c1", command="sleep 30")], 0)
    with stepped_worker(store_url, WorkerOptions(slots=1)) as worker:
        worker.claims.claim()
        assert list(worker.slots.running) == ["c1"]
        if cancel_asked:  # no heartbeat since: the worker does not know
            assert job_service.cancel(store, ["c1"]) == {"c1": JobState.PROCESSING}
        worker.request_stop(StopMode.NOW)
        deadline = time.monotonic() + 30
        while not worker.check_stop():  # kills the job, to hand it back
            assert time.monotonic() < deadline, "the job was not killed"
            worker.wait(0.1)
        worker.record_results()
        assert not worker.results
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job c1 ")]
        assert len(lines) == 2, lines  # started, then how it ended
        assert lines[1].startswith(f"job c1 attempt 1 {said} after "), lines
        tally = "cancelled" if cancel_asked else "released"
        assert dict(worker.results.tally) == {tally: 1}  # the worker's summary counts it so
    job = store.get_job("c1")
    assert job is not None
    assert (job.state, job.attempts) == (ending, 0)
