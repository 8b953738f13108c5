"""Claims on server stores, made in a thread on a connection of their own (claimer.py).

Real stores: on PostgreSQL and Redis, the answer, the error and a stop while a claim is in
flight; on every backend, that a worker makes a claimer exactly where the store is a
server."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from queuectl.claimer import Claimer
from queuectl.errors import StoreError
from queuectl.models import JobState, NewJob
from queuectl.store import Store
from queuectl.worker_options import WorkerOptions
from tests.conftest import BACKENDS
from tests.helpers import state_of, stepped_worker, worker_script_report

# Server stores only: on SQLite, claims stay in the worker's loop.
REMOTE = [
    pytest.param(name, id=name, marks=marks)
    for name, (_, marks) in BACKENDS.items()
    if name in ("postgres", "redis")  # stores across a connection (Store.remote)
]


def _enqueue(store: Store, count: int) -> None:
    store.enqueue_jobs([NewJob(id=f"j{i}", command="true") for i in range(count)], 3)


def _woken(read_fd: int) -> bool:
    return bool(select.select([read_fd], [], [], 30)[0])


@pytest.mark.parametrize("store_url", REMOTE, indirect=True)
def test_a_claim_is_answered_in_the_background_and_wakes_the_loop(
    store: Store, wake_pipe: tuple[int, int]
) -> None:
    _enqueue(store, 3)
    claimer = Claimer(store.url, wake_pipe[1])
    try:
        assert claimer.take() == []  # nothing asked
        claimer.ask("w1", None, 2, 30)
        # A tuple, not `pending and ...`: mypy would keep `pending` narrowed to True past
        # take() and call the checks after it unreachable.
        assert (claimer.pending, claimer.asked) == (True, 2)
        assert _woken(wake_pipe[0])
        jobs = claimer.take()
        assert jobs is not None and [j.id for j in jobs] == ["j0", "j1"]
        assert not claimer.pending
        assert [state_of(store, f"j{i}") for i in range(3)] == [
            JobState.PROCESSING,
            JobState.PROCESSING,
            JobState.PENDING,
        ]
    finally:
        claimer.close()


@pytest.mark.parametrize("store_url", REMOTE, indirect=True)
def test_the_claims_error_comes_out_of_take(
    store: Store, backend: str, wake_pipe: tuple[int, int]
) -> None:
    claimer = Claimer(store.url, wake_pipe[1])
    try:
        with _refusing(store.url, backend):
            claimer.ask("w1", None, 1, 30)
            assert _woken(wake_pipe[0])
            with pytest.raises(StoreError):
                claimer.take()
        assert not claimer.pending
        claimer.ask("w1", None, 1, 30)  # and the next claim works again
        assert claimer.take(wait=True) == []
    finally:
        claimer.close()


@contextmanager
def _refusing(url: str, backend: str) -> Iterator[None]:
    """Redis: every command of this test's user refused. PostgreSQL: every connection to
    the test's database cut (a claim is a write: not tried again on a new connection)."""
    if backend == "redis":
        from tests.redis_helpers import refusing

        with refusing(url):
            yield
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        yield


@pytest.mark.parametrize("store_url", REMOTE, indirect=True)
def test_a_stop_hands_back_the_jobs_of_a_claim_in_flight(store: Store, store_url: str) -> None:
    _enqueue(store, 3)
    with stepped_worker(store_url, WorkerOptions(slots=1)) as worker:
        claimer = worker.claims.claimer = Claimer(store_url, worker.wakeups.write_fd)  # as run()
        claimer.ask(worker.id, None, 3, 30)
        worker.claims.release_reserve()  # waits for the answer, then hands its jobs back
        assert not claimer.pending and not worker.slots.ready
    for i in range(3):
        job = store.get_job(f"j{i}")
        assert job is not None
        assert (job.state, job.attempts) == (JobState.PENDING, 0)


@pytest.mark.parametrize("store_url", REMOTE, indirect=True)
def test_an_idle_worker_claims_in_its_loop(store: Store, store_url: str) -> None:
    """Nothing running, nothing to overlap: the first job starts without a hand-off."""
    _enqueue(store, 1)
    with stepped_worker(store_url, WorkerOptions(slots=1)) as worker:
        claimer = worker.claims.claimer = Claimer(store_url, worker.wakeups.write_fd)  # as run()
        worker.claims.claim()
        assert not claimer.pending
        assert list(worker.slots.running) == ["j0"]


_RUN_IN_PROCESS = """
import json, signal, sys
from queuectl.worker import Worker
from queuectl.worker_options import WorkerOptions

before = signal.getsignal(signal.SIGTERM)
worker = Worker(sys.argv[1], WorkerOptions(slots=2, burst=True))
code = worker.run()
print(json.dumps({
    "code": code,
    "claimer": worker.claims.claimer is not None,
    "disarmed": worker.stop.watchdog is not None and worker.stop.watchdog.deadline is None,
    "handlers_back": signal.getsignal(signal.SIGTERM) is before,
}))
"""


@pytest.mark.shared_store
def test_a_worker_claims_through_a_claimer_on_server_stores(store: Store, store_url: str) -> None:
    """Run in a process of its own: a worker's `run` in a test's main thread installs
    signal handlers and a stop watchdog. Once `run` returns, the watchdog is disarmed and
    the handlers are the caller's again (an embedding program goes on)."""
    _enqueue(store, 5)
    report = worker_script_report(_RUN_IN_PROCESS, store_url)
    assert report == {
        "code": 0,
        "claimer": store.remote,
        "disarmed": True,
        "handlers_back": True,
    }
    assert store.count_jobs().by_state[JobState.COMPLETED] == 5
