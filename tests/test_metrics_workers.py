"""Metric counters stay exact when several real workers claim and finish jobs of several
queues at once (on PostgreSQL each statement's trigger upserts shared counter rows,
concurrently, in key order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import Store
from tests.conftest import make_job
from tests.helpers import start_worker, stop, wait_for

pytestmark = pytest.mark.not_fast  # real worker processes

JOBS = 240


def test_counters_add_up_with_three_workers_draining_at_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    jobs = [
        make_job(f"m{i}", "true" if i % 4 else "exit 3", max_retries=0, queue=f"q{i % 5}")
        for i in range(JOBS)
    ]
    store.enqueue_jobs(jobs, 3)
    workers = [start_worker(store_url, tmp_path / f"w{n}.log", "--count", "3") for n in range(3)]
    try:
        wait_for(
            lambda: (
                store.count_jobs().by_state[JobState.PENDING] == 0
                and store.count_jobs().by_state[JobState.PROCESSING] == 0
            ),
            timeout=120,
            what="every job to finish",
        )
    finally:
        for worker in workers:
            stop(worker)
    counts: dict[tuple[str, str], int] = {}
    for sample in store.metric_samples():
        counts[sample.kind, sample.outcome] = (
            counts.get((sample.kind, sample.outcome), 0) + sample.n
        )
    assert counts == {
        ("wait", ""): JOBS,
        ("run", "completed"): JOBS * 3 // 4,
        ("run", "dead"): JOBS // 4,
    }
    logs = "".join((tmp_path / f"w{n}.log").read_text() for n in range(3))
    assert "deadlock" not in logs and "Traceback" not in logs
