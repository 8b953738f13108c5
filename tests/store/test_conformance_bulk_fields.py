"""A bulk enqueue stores each job's own fields, on every backend: whether a field is the
same in every job of a batch, in some of them, or differs in one job only."""

from __future__ import annotations

from typing import Any

from queuectl.models import AfterMode, Job, NewJob
from queuectl.store import Store
from tests.conftest import make_job
from tests.store.test_conformance import enqueue

VARIED: dict[str, Any] = {
    "command": "echo other",
    "queue": "other",
    "priority": 5,
    "max_retries": 7,
    "timeout": 12.5,
    "keep_daemons": True,
    "cwd": "/tmp",
    "env": {"A": "1"},
    "concurrency_key": "key",
    "unique_key": "unique",
}


def _job(i: int) -> NewJob:
    """Jobs 0-249 differ in their ids only; from 250 each field takes its other value in
    its own pattern of jobs; job 449 alone runs after another and at a time of its own."""
    fields: dict[str, Any] = {}
    if i >= 250:
        for n, (name, value) in enumerate(VARIED.items()):
            if i % (n + 2) == 0 and not (name == "unique_key" and i % 4):
                fields[name] = f"{value}-{i}" if name == "unique_key" else value
    if i == 449:
        fields.update(after=("bulk-0000",), after_mode=AfterMode.FINISHED, run_at=2e9)
    return make_job(f"bulk-{i:04d}", **fields)


def _stored(job: Job) -> tuple[object, ...]:
    return (
        job.command, job.queue, job.priority, job.max_retries, job.timeout,
        job.keep_daemons, job.cwd, job.env, job.concurrency_key, job.unique_key,
        job.after_mode,
    )  # fmt: skip


def _asked(job: NewJob, default_retries: int) -> tuple[object, ...]:
    retries = default_retries if job.max_retries is None else job.max_retries
    return (
        job.command, job.queue, job.priority, retries, job.timeout, job.keep_daemons,
        job.cwd, job.env, job.concurrency_key, job.unique_key,
        job.after_mode if job.after else None,
    )  # fmt: skip


def test_a_bulk_stores_each_jobs_own_fields(store: Store) -> None:
    """Every stored field is the one its job asked for, in batches whose fields are all
    alike, mixed, or alike but for one job; seq follows the input order."""
    jobs = [_job(i) for i in range(450)]
    enqueue(store, *jobs, default=3)
    stored = store.get_jobs([job.id for job in jobs])
    for job in jobs:
        assert _stored(stored[job.id]) == _asked(job, 3), job.id
    seqs = [stored[job.id].seq for job in jobs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    last = stored["bulk-0449"]
    assert (last.run_at, last.blockers) == (2e9, 1)
    assert stored["bulk-0000"].dependents == 1
    created = {job.created_at for job in stored.values()}
    assert len(created) == 1  # one enqueue, one time
    assert all(job.run_at == job.created_at for job in stored.values() if job.id != last.id)
