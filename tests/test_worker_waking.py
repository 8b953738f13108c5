"""What wakes an idle worker besides a change in the store: the next waiting job coming
due (a scheduled job, a retry), and its store answering again after an outage.

Real worker processes; every wait is on a condition with a deadline.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from queuectl.models import NewJob
from queuectl.store import Store, open_store
from tests.helpers import start_worker, stop, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.shared_store]

POLL_S = 5.0  # the fallback poll, set far above the bounds below: it cannot be what wakes


def wait_idle(store: Store, pid: int) -> None:
    """Until the worker has registered and claimed once (it found nothing)."""
    wait_for(lambda: any(w.pid == pid for w in store.list_workers()), what="registration")
    store.enqueue_jobs([NewJob(id="first", command="true")], 0)
    wait_for(lambda: store.list_attempts("first"), what="the first job to start")


def test_a_job_scheduled_ahead_starts_when_due_not_at_the_next_poll(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    store.set_config("poll-interval", str(POLL_S))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_idle(store, worker.pid)
        store.enqueue_jobs([NewJob(id="later", command="true", delay=1.0)], 0)
        attempts = wait_for(lambda: store.list_attempts("later"), timeout=POLL_S * 3)
        scheduled = store.get_job("later")
        assert scheduled is not None
        late = attempts[0].started_at - scheduled.run_at
        assert 0 <= late < 0.5, f"started {late:.3f}s after its run_at"
    finally:
        stop(worker)


@pytest.mark.redis
def test_workers_resume_within_a_second_of_a_restarted_redis_answering(tmp_path: Path) -> None:
    """A crash long enough for the outage backoff to reach its longest pause (5 s): the
    workers still take the next job within about a second of the server answering."""
    from tests.own_redis import own_redis_server

    with own_redis_server() as server:
        store = open_store(server.url)
        logs = [tmp_path / f"w{i}.log" for i in range(2)]
        workers = [start_worker(server.url, log) for log in logs]
        try:
            for log in logs:  # logged once its change waiter listens
                wait_for(lambda: " started: " in log.read_text(), what="start-up")  # noqa: B023
            server.crash()
            # Failures enough for the pause between tries to have doubled up to seconds
            # (0.1, 0.2, 0.4 ... 5 s): what a worker did before was wait it out.
            for log in logs:  # (wait_for calls the lambda before the loop moves on)
                wait_for(lambda: log.read_text().count("database unavailable") >= 8)  # noqa: B023
            server.start()  # returns once the server answers, its data loaded
            answering = time.time()
            store.enqueue_jobs([NewJob(id="after", command="true")], 0)
            attempts = wait_for(lambda: store.list_attempts("after"), timeout=30)
            resumed = attempts[0].started_at - answering
            assert resumed < 2.0, f"the next job started {resumed:.2f}s after the restart"
        finally:
            for worker in workers:
                stop(worker)
            store.close()
