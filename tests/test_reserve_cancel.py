"""A job a worker holds in reserve (claimed, not started) is cancelled without running."""

from __future__ import annotations

from queuectl.models import JobState, NewJob
from queuectl.service import jobs as job_service
from queuectl.store import Store
from queuectl.timers import Duty
from queuectl.worker_options import WorkerOptions
from tests.helpers import stepped_worker


def test_a_reserved_job_cancelled_never_starts(store: Store, store_url: str) -> None:
    store.enqueue_jobs([NewJob(id=f"r{i}", command="sleep 30") for i in range(3)], 0)
    with stepped_worker(store_url, WorkerOptions(slots=1)) as worker:
        worker.pacing.recent_runtime = 0.001  # short jobs: a reserve is held
        worker.claims.claim()
        assert list(worker.slots.running) == ["r0"]
        assert [job.id for job in worker.slots.ready] == ["r1", "r2"]
        assert job_service.cancel(store, ["r1"]) == {"r1": JobState.PROCESSING}
        worker.timers.due_now(Duty.HEARTBEAT)  # as after the wake-up the cancel causes
        worker.heartbeat()
        assert [job.id for job in worker.slots.ready] == ["r2"]
    job = store.get_job("r1")
    assert job is not None
    assert (job.state, job.attempts) == (JobState.CANCELLED, 0)
    assert not [a for a in store.list_attempts("r1") if a.exit_code is not None]
