"""Redis SIGKILLed while workers drain and enqueuers enqueue, on a server of the test's own
(tests.own_redis: `appendonly yes`, `appendfsync always`), then started again on the same
files: every job whose enqueue was acknowledged is there and ends completed, with exactly
one recorded success, and every run is an attempt the store recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.errors import StoreError
from queuectl.models import JobState
from queuectl.store import Store, open_store
from tests.chaos.faults import (
    CHAOS_SETTINGS,
    Figures,
    chaos_rng,
    check_invariants,
    fleet,
    new_jobs,
    new_marker,
    recover,
    tolerant,
)
from tests.own_redis import OwnRedis, own_redis_server

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    with own_redis_server(fsync="always") as server:
        yield server


class Enqueuers:
    """Threads enqueueing small batches through stores of their own until stopped; an
    enqueue counts as acknowledged only when it returned. One whose answer was lost may
    still have gone in (the store never retries a write): such jobs run, unrequired."""

    def __init__(self, url: str, runs: Path, marker: str, count: int) -> None:
        self.url, self.runs, self.marker = url, runs, marker
        self.acknowledged: set[str] = set()
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(count)]

    def __enter__(self) -> Enqueuers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, n: int) -> None:
        store: Store | None = None
        batch = 0
        while not self._stop.is_set():
            jobs = new_jobs(f"enq{n}-{batch}-", 5, self.runs, self.marker)
            batch += 1
            try:
                store = store or open_store(self.url)
                ids = store.enqueue_jobs(jobs, 3)
            except StoreError:
                with self._lock:
                    self.failures += 1
                time.sleep(0.05)
                continue
            with self._lock:
                self.acknowledged.update(ids)
            time.sleep(0.02)
        if store is not None:
            store.close()


def completed(store: Store) -> int:
    return store.count_jobs().by_state[JobState.COMPLETED]


def test_redis_crash_loses_no_acknowledged_job_and_every_job_completes_once(
    own_redis: OwnRedis, tmp_path: Path, chaos_scale: float, figures: Figures
) -> None:
    server = own_redis
    store = open_store(server.url)
    try:
        assert store.durability_warning() is None  # appendfsync always: nothing to warn of
        for key, value in {**CHAOS_SETTINGS, "lease-seconds": "4"}.items():
            store.set_config(key, value)
        rng = chaos_rng(figures)
        runs, marker = tmp_path / "runs.txt", new_marker("0.05")
        faults = max(2, int(2 * chaos_scale))
        with fleet(server.url, tmp_path, marker) as workers:
            for _ in range(2):
                workers.start(3)
            first = set(
                store.enqueue_jobs(new_jobs("pre-", int(60 * chaos_scale), runs, marker), 3)
            )
            with Enqueuers(server.url, runs, marker, 2) as enqueuers:
                done = 0
                for n in range(faults):
                    target = done + 15
                    workers.wait(
                        tolerant(lambda: completed(store) >= target),  # noqa: B023
                        f"{target} jobs completed before crash {n + 1}",
                    )
                    server.crash()
                    time.sleep(rng.uniform(0.2, 1.5))  # how long the server stays down
                    server.start()
                    figures.faults["server SIGKILL"] += 1
                    done = workers.wait(tolerant(lambda: completed(store) + 1), "a count") - 1
                workers.wait(lambda: len(enqueuers.acknowledged) > 20, "enqueues acknowledged")
            figures.notes.append(f"{enqueuers.failures} enqueue(s) failed while down")
            workers.assert_all_alive()  # they rode the crashes out
            recover(store, workers)
            acknowledged = first | enqueuers.acknowledged
            check_invariants(store, acknowledged, runs, workers, figures)
            states = {job.id: job.state for job in store.list_jobs()}
            assert {states[job_id] for job_id in acknowledged} == {JobState.COMPLETED}
    finally:
        store.close()


def test_redis_without_fsync_on_every_write_is_reported() -> None:
    with own_redis_server(fsync="everysec") as server:
        store = open_store(server.url)
        try:
            warning = store.durability_warning()
        finally:
            store.close()
    assert warning is not None and "second" in warning and "appendfsync always" in warning
