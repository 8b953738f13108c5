"""How a PostgreSQL finish releases the jobs after the jobs it ends (queuectl_release):
the rows it reads, whatever the planner's statistics say. What a release does is the
conformance suite's (tests/store/test_conformance_workflows.py).

Each test runs on a database of its own on the server at QUEUECTL_TEST_POSTGRES.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from queuectl.models import JobState, NewJob, RunResult
from queuectl.store import open_store

try:
    import psycopg

    from queuectl.store.postgres_after import FINISH_PARAMS
    from tests import pg_helpers
except ModuleNotFoundError as err:  # pragma: no cover - the `postgres` extra is missing
    if err.name != "psycopg" or os.environ.get("CI") == "true":
        raise
    pytest.skip("psycopg is not installed", allow_module_level=True)

pytestmark = pytest.mark.postgres

CHILDREN = 3
PARENTS = 3 * 999  # each child after 999 of them, as the fan-in of the benchmark
ENDED = 8  # a worker's batch of finishes


@pytest.fixture
def fan_in() -> Iterator[str]:
    """A database holding a fan-in, never analysed (as on a server without autovacuum):
    PARENTS jobs, and CHILDREN jobs each after every CHILDREN-th of them."""
    url = pg_helpers.create_test_database()  # skips (fails under CI) without a server
    try:
        parents = [NewJob(id=f"p{i}", command="true") for i in range(PARENTS)]
        children = [
            NewJob(id=f"c{g}", command="true", after=tuple(p.id for p in parents[g::CHILDREN]))
            for g in range(CHILDREN)
        ]
        store = open_store(url)
        try:
            store.enqueue_jobs([*parents, *children], 0)
        finally:
            store.close()
        yield url
    finally:
        pg_helpers.drop_test_database(url)


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.DEAD])
def test_a_release_reads_the_edges_and_jobs_after_not_every_pending_job(
    fan_in: str, state: JobState
) -> None:
    """Ending a batch of a fan-in's parents reads their edges by `parent` and the jobs
    after them by `id`: plans that scanned job_after or hashed every pending job made each
    finish of a fan-in's parents read thousands of rows (the drain ran at 0.7 of
    independent jobs). The counters are those of this transaction alone."""
    ended = [f"p{i}" for i in range(ENDED)]
    with psycopg.connect(fan_in) as conn:
        conn.execute(
            "SELECT queuectl_release(%s::text[], %s::text[], %s::jsonb)",
            (ended, [state.value] * ENDED, FINISH_PARAMS["after_rules"]),
        )
        read = {
            name: (seq_scans, rows)
            for name, seq_scans, rows in conn.execute(
                "SELECT relname, seq_scan, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                " FROM pg_stat_xact_user_tables WHERE relname IN ('jobs', 'job_after')"
            )
        }
        after = {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT id, state, blockers FROM jobs WHERE id LIKE 'c%'")
        }
        conn.rollback()
    if state is JobState.COMPLETED:
        expected = {f"c{g}": ("pending", 999 - len(ended[g::CHILDREN])) for g in range(CHILDREN)}
    else:  # a dead job cancels the jobs that need it completed
        expected = {f"c{g}": ("cancelled", 0) for g in range(CHILDREN)}
    assert after == expected
    assert read["job_after"][0] == 0, read
    assert read["jobs"][0] == 0 and read["jobs"][1] <= 4 * (ENDED + CHILDREN), read


def test_only_the_last_end_a_job_waits_for_wakes_the_workers(fan_in: str) -> None:
    """A finish that counts jobs down without making any claimable sends no NOTIFY (one at
    each finish of a fan-in's parents woke every listening worker and took the server's
    notify lock at each commit); the finish of the last job one waits for does."""
    store = open_store(fan_in, durable=False)
    try:
        claimed = {job.id: job.last_attempt for job in store.claim_jobs("w", None, PARENTS, 60)}
        assert len(claimed) == PARENTS  # the children wait
        done = RunResult(exit_code=0, error=None)
        with psycopg.connect(fan_in, autocommit=True) as listener:
            listener.execute("LISTEN queuectl_jobs")
            last = {"p0", "p1", "p2"}  # the last parent each child waits for
            first = [(i, n, done) for i, n in claimed.items() if i not in last]
            assert all(store.complete_jobs("w", first))
            listener.execute("NOTIFY queuectl_jobs, 'mark'")  # delivered after any before it
            heard = [note.payload for note in listener.notifies(timeout=10, stop_after=1)]
            assert heard == ["mark"], "a finish that released no job notified"
            assert store.complete_job("p0", "w", claimed["p0"], done)
            heard = [note.payload for note in listener.notifies(timeout=10, stop_after=1)]
            assert heard == [""], "the finish that released c0 did not notify"
        blockers = {job.id: job.blockers for job in store.list_jobs(state=JobState.PENDING)}
        assert blockers == {"c0": 0, "c1": 1, "c2": 1}
    finally:
        store.close()
