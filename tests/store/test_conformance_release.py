"""Handing jobs back in one batch (Store.release_jobs), on every backend: what
release_job does for one job, each job guarded on its own."""

from __future__ import annotations

from queuectl.models import JobState
from queuectl.store import Store
from tests.conftest import make_job
from tests.store.test_conformance import enqueue, get

PENDING, CANCELLED, PROCESSING = JobState.PENDING, JobState.CANCELLED, JobState.PROCESSING


def test_release_jobs_hands_a_reserve_back_each_job_guarded(store: Store) -> None:
    """A worker's reserve goes back in one call: each job pending again with its attempt
    not counted, one whose cancel was asked meanwhile cancelled, and one that is no longer
    the worker's (another attempt holds it) left alone."""
    enqueue(store, *(make_job(f"r{i}", max_retries=1) for i in range(4)))
    claimed = {job.id: job for job in store.claim_jobs("w1", None, 4, 60)}
    assert sorted(claimed) == ["r0", "r1", "r2", "r3"]
    assert store.cancel_jobs(["r1"])["r1"] == PROCESSING  # asked while it is held
    assert store.release_job("r2", "w1", claimed["r2"].last_attempt)  # released already
    [again] = store.claim_jobs("w2", None, 1, 60)  # and claimed by another worker
    assert again.id == "r2"
    held = [(job_id, claimed[job_id].last_attempt) for job_id in ("r0", "r1", "r2", "r3")]
    assert store.release_jobs("w1", held) == [True, True, False, True]
    states = {job_id: get(store, job_id).state for job_id in ("r0", "r1", "r2", "r3")}
    assert states == {"r0": PENDING, "r1": CANCELLED, "r2": PROCESSING, "r3": PENDING}
    for job_id in ("r0", "r3"):
        job = get(store, job_id)
        assert (job.attempts, job.worker_id) == (0, None)
        [record] = store.list_attempts(job_id)
        assert record.error == "released"
    assert get(store, "r2").worker_id == "w2"
    assert store.release_jobs("w1", []) == []
