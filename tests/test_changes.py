"""How a worker hears of database changes (queuectl/changes.py): through its selector when
the store's waiter has a descriptor, else through a thread that wakes the loop."""

from __future__ import annotations

import select
import selectors
import threading
from pathlib import Path

import pytest

import queuectl.store.inotify
from queuectl.changes import ChangeWatch
from queuectl.store import Store, open_store
from tests.conftest import make_job
from tests.helpers import begin_spilled


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

    def no_inotify(*args: object) -> None:
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
