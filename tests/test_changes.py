"""How a worker hears of database changes (queuectl/changes.py): through its selector when
the store's waiter has a descriptor, else through a thread that wakes the loop."""

from __future__ import annotations

import select
import selectors
import threading
import time
from pathlib import Path

import pytest

import queuectl.store.inotify
from queuectl.changes import BUSY_LOOK_S, ChangeWatch
from queuectl.models import JobState, NewJob
from queuectl.service import jobs as job_service
from queuectl.store import Store, open_store
from queuectl.timers import Duty
from queuectl.worker import MIN_HEARTBEAT_S, Worker
from queuectl.worker_options import WorkerOptions
from tests.conftest import make_job
from tests.helpers import begin_spilled, stepped_worker


def _enqueue_elsewhere(url: str) -> None:
    other = open_store(url)
    try:
        other.enqueue_jobs([make_job()], 3)
    finally:
        other.close()


def test_a_change_wakes_the_selector(
    store: Store, store_url: str, wake_pipe: tuple[int, int]
) -> None:
    heard = threading.Event()
    with selectors.DefaultSelector() as selector:
        watch = ChangeWatch(selector, wake_pipe[1], heard.set)
        watch.start(store)
        try:
            assert watch.relisten_at() is None  # connected: nothing to retry
            _enqueue_elsewhere(store_url)
            events = selector.select(10)
            assert [key.data for key, _ in events] == ["changes"]
            assert watch.take()
            assert not heard.is_set()  # in this mode the loop acts on `take`
        finally:
            watch.close()


def test_a_waiter_without_a_descriptor_is_heard_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wake_pipe: tuple[int, int]
) -> None:
    """SQLite without inotify (as off Linux) polls PRAGMA data_version in the thread."""

    def no_inotify(*args: object, **options: object) -> None:
        raise OSError("inotify is not available here")

    monkeypatch.setattr(queuectl.store.inotify, "FileWatch", no_inotify)
    url = str(tmp_path / "q.db")
    store = open_store(url)
    heard = threading.Event()
    with selectors.DefaultSelector() as selector:
        watch = ChangeWatch(selector, wake_pipe[1], heard.set)
        watch.start(store)
        try:
            assert watch.waiter is not None and watch.waiter.fileno() is None
            assert not selector.get_map()  # nothing for the selector to watch
            _enqueue_elsewhere(url)
            assert heard.wait(10)
            assert select.select([wake_pipe[0]], [], [], 10)[0]  # the loop was woken
        finally:
            watch.close()
            store.close()


def test_an_idle_worker_waits_for_a_commit_under_way_and_a_busy_one_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wake_pipe: tuple[int, int]
) -> None:
    """A SQLite commit is heard at its WAL write, before it is visible. A busy worker's
    `take` hands back at once (it looks again later); an idle one's waits for it: that
    wait is its pickup time."""
    import sqlite3

    import queuectl.changes

    monkeypatch.setattr(queuectl.changes, "IDLE_SETTLE_S", 60.0)  # any machine's pace
    path = tmp_path / "q.db"
    store = open_store(str(path))
    spilled, go = threading.Event(), threading.Event()

    def write() -> None:
        writer = sqlite3.connect(path, isolation_level=None)
        begin_spilled(writer)
        spilled.set()
        go.wait(60)
        writer.execute("COMMIT")
        writer.close()

    writing = threading.Thread(target=write)
    with selectors.DefaultSelector() as selector:
        watch = ChangeWatch(selector, wake_pipe[1], lambda: None)
        watch.start(store)
        try:
            writing.start()
            assert spilled.wait(60)
            assert selector.select(10)  # the WAL was written
            assert watch.take() is False  # busy: no waiting for what is not visible yet
            assert watch.look_again_at() is not None
            threading.Timer(0.2, go.set).start()  # committed while the idle take waits
            assert watch.take(idle=True) is True
        finally:
            go.set()
            writing.join(60)
            watch.close()
            store.close()


def test_a_busy_worker_takes_changes_on_its_own_turn(
    store: Store, store_url: str, wake_pipe: tuple[int, int]
) -> None:
    """With no use for a change right now, the waiter's descriptor leaves the selector;
    what it hears meanwhile is kept for the next `take` (look_again_at says when), and
    wakes the selector at once when the descriptor is back."""
    with selectors.DefaultSelector() as selector:
        watch = ChangeWatch(selector, wake_pipe[1], lambda: None)
        watch.start(store)
        try:
            before = time.monotonic()
            watch.attend(False)
            assert not selector.get_map()
            turn = watch.look_again_at()
            assert turn is not None
            assert before + BUSY_LOOK_S <= turn <= time.monotonic() + BUSY_LOOK_S
            _enqueue_elsewhere(store_url)
            heard = watch.waiter.fileno() if watch.waiter is not None else None
            assert heard is not None
            assert select.select([heard], [], [], 10)[0]  # it arrives in its own time
            assert watch.take()  # its turn: the change was kept for it
            assert not selector.get_map()  # ...and the descriptor stays out
            _enqueue_elsewhere(store_url)
            watch.attend(True)  # a slot freed: what was heard meanwhile wakes the loop
            events = selector.select(10)
            assert [key.data for key, _ in events] == ["changes"]
            assert watch.take()
        finally:
            watch.close()


def _watching(worker: Worker) -> bool:
    return "changes" in [key.data for key in worker.selector.get_map().values()]


def test_a_worker_watches_changes_when_it_could_act_on_them(store: Store, store_url: str) -> None:
    """Every slot busy, nothing to claim: no wake-up per change, yet a cancel order still
    reaches the running job; with a slot free, each change wakes the worker again."""
    store.enqueue_jobs([NewJob(id="long", command="sleep 60")], 0)
    with stepped_worker(store_url, WorkerOptions(slots=1)) as worker:
        worker.changes.start(worker.store)
        assert _watching(worker)
        worker.claims.claim()
        assert list(worker.slots.running) == ["long"]
        worker.wait()  # returns by its next look at the latest
        assert not _watching(worker)
        worker.timers.due_now(Duty.HEARTBEAT)
        worker.heartbeat()  # the next regular one is 5 s away...
        job_service.cancel(store, ["long"])
        # ...and the cancel is heard sooner: a look (BUSY_LOOK_S) sees the change, which
        # brings the heartbeat forward (MIN_HEARTBEAT_S) that reads the order.
        deadline = time.monotonic() + 10 * (BUSY_LOOK_S + MIN_HEARTBEAT_S)
        while (job := store.get_job("long")) is None or job.state != JobState.CANCELLED:
            assert time.monotonic() < deadline, "the cancel order was not heard in time"
            worker.heartbeat()
            worker.record_results()
            worker.wait()
        worker.wait()  # nothing runs: its descriptor is back for the next change
        assert _watching(worker)
