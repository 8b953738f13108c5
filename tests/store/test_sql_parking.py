"""Parking on the SQL stores: a limited claim stays cheap however long the backlog behind
a full key or queue, because what it passed over leaves the claim index (migrations
sqlite/0012 and postgres/0015). What a claim takes is the conformance suite's; here, what
it reads: rows of the jobs table (PostgreSQL's own counters) or SQLite's VM steps.

PostgreSQL tests run on a database of their own on the server at QUEUECTL_TEST_POSTGRES.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queuectl.models import NewJob, RunResult
from queuectl.store import open_store
from queuectl.store.base import Store
from tests import pg_helpers

DONE = RunResult(exit_code=0, error=None)
_ROWS_READ = "coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
_ROWS_WRITTEN = "n_tup_ins + n_tup_upd + n_tup_del"
BIG, SMALL = 900, 9  # due jobs behind the limit (a claim parks at most 1,000)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh stores: each call, the URL of a new empty one."""
    made: list[str] = []

    def make() -> str:
        if request.param == "sqlite":
            made.append(f"sqlite:///{tmp_path / f'q{len(made)}.db'}")
        else:
            if os.environ.get("CI") != "true":
                pytest.importorskip("psycopg")
            made.append(pg_helpers.create_test_database())  # skips (fails in CI) without one
        return made[-1]

    yield make
    for url in made:
        if url.startswith("postgres"):
            pg_helpers.drop_test_database(url)


def _rows_read(store: Store, url: str) -> Callable[[Callable[[], object]], int]:
    """A meter: the cost of a claim run by a function on `store`: SQLite's VM steps, or
    the rows of jobs PostgreSQL reads."""
    if url.startswith("sqlite"):
        conn: sqlite3.Connection = store._conn  # type: ignore[attr-defined]

        def sqlite_meter(run: Callable[[], object]) -> int:
            steps = [0]

            def step() -> int:
                steps[0] += 1
                return 0

            conn.set_progress_handler(step, 100)
            try:
                run()
            finally:
                conn.set_progress_handler(None, 100)
            return steps[0]

        return sqlite_meter

    def postgres_meter(run: Callable[[], object]) -> int:
        return _pg_counted(store, "jobs", _ROWS_READ, run, keep=False)

    return postgres_meter


def _busy_key_backlog(store: Store, behind: int) -> str:
    """Key `k` held by a running job, `behind` due jobs of it waiting ahead of a free job;
    the first claim parks them and takes the free one. Answers the running job's id."""
    store.enqueue_jobs([NewJob(id="holder", command="true", concurrency_key="k", priority=9)], 3)
    assert [j.id for j in store.claim_jobs("w", None, 1, 60)] == ["holder"]
    waiting = [
        NewJob(id=f"k{i:04d}", command="true", concurrency_key="k", priority=5)
        for i in range(behind)
    ]
    store.enqueue_jobs([*waiting, NewJob(id="free0", command="true")], 3)
    assert [j.id for j in store.claim_jobs("w", None, 1, 60)] == ["free0"]
    return "holder"


def test_a_claim_does_not_read_past_a_busy_keys_parked_backlog(
    fresh: Callable[[], str],
) -> None:
    costs = {}
    for behind in (SMALL, BIG):
        url = fresh()
        store = open_store(url, durable=False)
        try:
            _busy_key_backlog(store, behind)
            store.enqueue_jobs([NewJob(id="free1", command="true")], 3)
            meter = _rows_read(store, url)
            taken: list[str] = []

            def claim(store: Store = store, taken: list[str] = taken) -> None:
                taken.extend(j.id for j in store.claim_jobs("w", None, 1, 60))

            costs[behind] = meter(claim)
            assert taken == ["free1"]
        finally:
            store.close()
    # Without parking the claim reads the 900 busy jobs again (100 times as many rows).
    assert costs[BIG] <= 2 * costs[SMALL] + 20, costs


def test_a_freed_key_lets_back_its_best_parked_job_one_a_slot(fresh: Callable[[], str]) -> None:
    store = open_store(fresh(), durable=False)
    try:
        holder = _busy_key_backlog(store, SMALL)
        store.enqueue_jobs([NewJob(id="late", command="true", concurrency_key="k", priority=7)], 3)
        assert store.claim_jobs("w", None, 5, 60) == []  # parks `late` too
        assert store.complete_job(holder, "w", 1, DONE)
        # Claim order of the key's jobs: priority first (late), then age.
        for expected in ["late", "k0000", "k0001"]:
            taken = store.claim_jobs("w", None, 5, 60)
            assert [j.id for j in taken] == [expected]
            assert store.claim_jobs("w", None, 5, 60) == []  # the key is full again
            assert store.complete_job(expected, "w", 1, DONE)
        store.set_key_limit("k", 3)  # every parked job comes back; 3 start
        assert len(store.claim_jobs("w", None, 10, 60)) == 3
    finally:
        store.close()


def test_a_queue_at_its_limit_parks_its_backlog_and_lets_it_back_with_room(
    fresh: Callable[[], str],
) -> None:
    store = open_store(fresh(), durable=False)
    try:
        store.set_queue_limit("slow", 1, None)
        jobs = [NewJob(id=f"s{i:03d}", command="true", queue="slow") for i in range(50)]
        store.enqueue_jobs([*jobs, NewJob(id="other", command="true")], 3)
        assert [j.id for j in store.claim_jobs("w", None, 2, 60)] == ["s000", "other"]
        assert store.claim_jobs("w", None, 2, 60) == []
        assert store.complete_job("s000", "w", 1, DONE)
        assert [j.id for j in store.claim_jobs("w", None, 2, 60)] == ["s001"]
        store.set_queue_limit("slow", None, None)  # lifted: all of them come back
        assert len(store.claim_jobs("w", None, 100, 60)) == 48
    finally:
        store.close()


def test_a_claim_parks_at_most_a_thousand_and_the_next_goes_on(fresh: Callable[[], str]) -> None:
    """Behind 1,500 busy jobs the first claim stops at 1,000 parked, taking nothing; it
    says so (PostgreSQL: a NOTIFY wakes idle workers; SQLite: its commit does), and the
    next claim parks the rest and takes the free job."""
    url = fresh()
    store = open_store(url, durable=False)
    try:
        _busy_key_backlog(store, SMALL)
        busy = [
            NewJob(id=f"m{i:04d}", command="true", concurrency_key="k", priority=5)
            for i in range(1500)
        ]
        store.enqueue_jobs([*busy, NewJob(id="free1", command="true")], 3)
        heard: list[str] = []
        if url.startswith("postgres"):
            import psycopg

            with psycopg.connect(url, autocommit=True) as listener:
                listener.execute("LISTEN queuectl_jobs")
                assert store.claim_jobs("w", None, 1, 60) == []
                listener.execute("NOTIFY queuectl_jobs, 'mark'")
                heard = [n.payload for n in listener.notifies(timeout=10, stop_after=2)]
            assert heard == ["", "mark"]
        else:
            assert store.claim_jobs("w", None, 1, 60) == []
        assert [j.id for j in store.claim_jobs("w", None, 1, 60)] == ["free1"]
    finally:
        store.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if os.environ.get("CI") != "true":
        pytest.importorskip("psycopg")
    url = pg_helpers.create_test_database()  # skips (fails in CI) without a server
    try:
        yield url
    finally:
        pg_helpers.drop_test_database(url)


@pytest.mark.postgres
def test_a_statement_moving_many_jobs_of_one_key_moves_its_counters_once(
    postgres_url: str,
) -> None:
    """An enqueue of 3,000 jobs of one key, and a cancel of them all, update the key's
    counter row once each (PostgreSQL kept the counters by row: each job's update left a
    version of the row for the next to step over, and 20,000 jobs took about a minute)."""
    url = postgres_url  # (SQLite updates a row in place: a write a job stays linear)
    store = open_store(url, durable=False)
    try:
        jobs = [NewJob(id=f"j{i}", command="true", concurrency_key="k") for i in range(3000)]
        updates = _pg_counted(
            store, "key_limits", _ROWS_WRITTEN, lambda: store.enqueue_jobs(jobs, 3), keep=True
        )
        assert updates <= 1
        assert [(k.key, k.running, k.jobs) for k in store.key_limits()] == [("k", 0, 3000)]
        ids = [job.id for job in jobs]
        updates = _pg_counted(
            store, "key_limits", _ROWS_WRITTEN, lambda: store.cancel_jobs(ids), keep=True
        )
        assert updates <= 2  # its counters, then its row forgotten
        assert store.key_limits() == []
    finally:
        store.close()


def _pg_counted(
    store: Store, table: str, counters: str, run: Callable[[], object], *, keep: bool
) -> int:
    """How much `counters` (a sum of pg_stat_xact_user_tables columns) of `table` grew
    while `run` ran: PostgreSQL's counters of the session's unreported work (earlier
    transactions' too, hence the difference), read in a transaction opened on the store's
    own connection (none is reported meanwhile), then committed (`keep`) or rolled back."""
    conn = store._conn  # type: ignore[attr-defined]
    query = f"SELECT {counters} AS n FROM pg_stat_xact_user_tables WHERE relname = %s"

    def read() -> int:
        return int(conn.execute(query, (table,)).fetchone()["n"])

    conn.execute("BEGIN")
    try:
        before = read()
        run()
        return read() - before
    finally:
        conn.execute("COMMIT" if keep else "ROLLBACK")
