"""Figures about jobs taken when they come due: a scheduled job and a retry, on an idle
worker, from the job's run_at to its attempt's started_at (both stamped by the store's
clock, so the figure is the worker's lateness alone)."""

from __future__ import annotations

import time

from queuectl.bench import Figure
from queuectl.bench.procs import start_worker
from queuectl.bench.running import wait_registered
from queuectl.models import NewJob
from queuectl.store import Store, open_store

TARGET_MS = 20.0


def due_pickup(url: str, backend: str, scheduled: int, retried: int) -> list[Figure]:
    """`scheduled` jobs enqueued 0.2 to 0.7 s ahead, one at a time, then `retried` jobs
    that fail once and are retried 1 s later (backoff-base 1): how late each attempt
    starts after its run_at, p50 and p99 of each kind."""
    store = open_store(url)
    store.set_config("backoff-base", "1")
    worker = start_worker(url, "--count", "1")
    try:
        wait_registered(url, worker.pid, time.monotonic() + 30)
        time.sleep(0.5)  # let it settle into waiting
        ahead = [0.2 + (i * 0.137) % 0.5 for i in range(scheduled)]
        late_scheduled = [
            _lateness_ms(store, NewJob(id=f"at{i}", command="true", delay=delay), 1)
            for i, delay in enumerate(ahead)
        ]
        late_retried = [
            _lateness_ms(store, NewJob(id=f"re{i}", command="false", max_retries=1), 2)
            for i in range(retried)
        ]
    finally:
        worker.terminate()
        worker.wait()
        store.close()
    return [
        *_percentiles("scheduled pickup", backend, late_scheduled),
        *_percentiles("retry pickup", backend, late_retried),
    ]


def _lateness_ms(store: Store, job: NewJob, attempt: int) -> float:
    """Enqueue `job` and wait for its attempt number `attempt`: how long after the job's
    run_at (that attempt's due time) it started."""
    store.enqueue_jobs([job], 0)
    deadline = time.monotonic() + 10
    while len(attempts := store.list_attempts(job.id)) < attempt:
        if time.monotonic() > deadline:
            raise RuntimeError(f"due pickup: attempt {attempt} of {job.id} did not start")
        time.sleep(0.001)
    stored = store.get_job(job.id)
    assert stored is not None
    return (attempts[attempt - 1].started_at - stored.run_at) * 1000


def _percentiles(name: str, backend: str, delays: list[float]) -> list[Figure]:
    ordered = sorted(delays)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    note = f"{len(ordered)} jobs, run_at to started_at"
    return [
        Figure(
            f"{name} p50",
            backend,
            "ms",
            [p50],
            f"<= {TARGET_MS:g} ms",
            met=p50 <= TARGET_MS,
            note=note,
        ),
        Figure(
            f"{name} p99",
            backend,
            "ms",
            [p99],
            f"<= {TARGET_MS:g} ms",
            met=p99 <= TARGET_MS,
            note=note,
        ),
    ]
