"""FileWatch (queuectl/store/inotify.py) watching files directly: writes to the other
files of their directory (a worker's log beside its SQLite database) make nothing
readable, while the watched files' own writes do, also once a file is made anew."""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.store.inotify import CHANGED, FileWatch
from queuectl.store.sqlite_waiter import SqliteChangeWaiter
from tests.helpers import stop, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def _readable(watch: FileWatch | SqliteChangeWaiter) -> bool:
    fd = watch.fileno()
    assert fd is not None
    return bool(select.select([fd], [], [], 0)[0])


def _append(path: Path, text: str = "x\n") -> None:
    with path.open("a") as handle:
        handle.write(text)


def _wal_database(path: Path) -> None:
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x)")


def _commit_wakes(waiter: SqliteChangeWaiter, path: Path) -> None:
    """A commit by another connection to `path` makes the waiter readable and is seen."""
    other = sqlite3.connect(path)
    try:
        with other:
            other.execute("INSERT INTO t VALUES (1)")
        assert _readable(waiter)
        assert waiter.wait(5)
    finally:
        other.close()


def test_writes_to_other_files_of_the_directory_make_nothing_readable(tmp_path: Path) -> None:
    watched, other = tmp_path / "queue.db-wal", tmp_path / "worker.log"
    watched.touch()
    other.touch()
    watch = FileWatch([str(watched)], directly=True)
    try:
        _append(other)
        assert not _readable(watch)
        _append(watched)
        assert _readable(watch)
        assert watch.changed()
        assert not watch.changed()  # taken
    finally:
        watch.close()


def test_a_file_made_anew_is_watched_itself(tmp_path: Path) -> None:
    """Not there at the start, then made, written, removed and made again: each time it
    is made and each write after that is seen."""
    watched = tmp_path / "queue.db-wal"
    watch = FileWatch([str(watched)], directly=True)
    try:
        assert not watch.changed()
        watched.touch()
        assert watch.wait(5)
        _append(watched)
        assert watch.wait(5)
        watched.unlink()
        assert not watch.changed()  # a removal is not a write
        moved_in = tmp_path / "elsewhere"
        moved_in.touch()
        moved_in.rename(watched)  # made anew by a rename
        assert watch.wait(5)
        _append(watched)
        assert watch.wait(5)
    finally:
        watch.close()


def test_watched_through_the_directory_other_files_make_it_readable(tmp_path: Path) -> None:
    """The fork server's way (not `directly`): one watch per directory, whatever its
    files; the events of other files are read and passed over."""
    watched, other = tmp_path / "module.py", tmp_path / "other.py"
    watched.touch()
    watch = FileWatch([str(watched)], CHANGED)
    try:
        _append(other)
        assert _readable(watch)
        assert not watch.changed()
        _append(watched)
        assert watch.changed()
    finally:
        watch.close()


def test_the_sqlite_waiter_wakes_for_commits_not_for_a_log_beside_the_database(
    tmp_path: Path,
) -> None:
    database, log = tmp_path / "queue.db", tmp_path / "worker.log"
    _wal_database(database)
    log.touch()  # made before: a file made in the directory is an event of its names
    waiter = SqliteChangeWaiter(str(database))
    try:
        assert not waiter.wait(0)
        _append(log)
        assert not _readable(waiter)
        _commit_wakes(waiter, database)
    finally:
        waiter.close()


def test_the_sqlite_waiter_of_a_database_reached_by_a_symlink_wakes_for_commits(
    tmp_path: Path,
) -> None:
    """SQLite names the WAL after the file the link leads to: that one is watched."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real, link = elsewhere / "real.db", tmp_path / "link.db"
    _wal_database(real)
    link.symlink_to(real)
    waiter = SqliteChangeWaiter(str(link))
    try:
        assert not waiter.wait(0)
        _commit_wakes(waiter, link)
    finally:
        waiter.close()


def test_a_file_that_cannot_be_watched_itself_is_watched_through_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of watches, or not allowed: its directory's watch takes every event again
    (writes to other files there make the descriptor readable, and are passed over)."""
    watched, other = tmp_path / "queue.db-wal", tmp_path / "worker.log"
    watched.touch()
    other.touch()
    add = FileWatch._add

    def refusing(self: FileWatch, path: str, mask: int) -> int:
        if path == str(watched):
            raise OSError(28, "No space left on device (inotify watches)")
        return add(self, path, mask)

    monkeypatch.setattr(FileWatch, "_add", refusing)
    watch = FileWatch([str(watched)], directly=True)
    try:
        _append(watched)
        assert watch.changed()
        _append(other)
        assert _readable(watch)
        assert not watch.changed()
    finally:
        watch.close()


@pytest.mark.not_fast  # a worker process
def test_an_idle_verbose_worker_logging_beside_its_database_does_not_wake_itself(
    tmp_path: Path,
) -> None:
    """Each wake-up of a verbose worker logs a line; with the log beside the database,
    each line woke it again (about 90 times a second). Between its heartbeats (every
    lease-seconds / 3, 0.67 s here) it now wakes a few times only."""
    database, log = tmp_path / "queue.db", tmp_path / "worker.log"
    queuectl = [sys.executable, "-m", "queuectl", "--db", str(database)]
    subprocess.run([*queuectl, "db", "migrate"], check=True, capture_output=True)
    subprocess.run([*queuectl, "config", "set", "lease-seconds", "2"], check=True)
    with log.open("w") as output:
        worker = subprocess.Popen(
            [*queuectl, "worker", "start", "--count", "1", "-v"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "QUEUECTL_FORKSERVER": "0"},
        )
    try:
        wait_for(lambda: log.read_text().count("heartbeat:") >= 5, what="5 heartbeats")
        lines = log.read_text().splitlines()
        beats = [i for i, line in enumerate(lines) if "heartbeat:" in line]
        between = lines[beats[2] : beats[4]]  # two heartbeats, 1.3 s: idle by then
        waits = [line for line in between if "waiting" in line]
        assert len(waits) <= 12, "\n".join(between)
    finally:
        stop(worker)


def test_a_watch_is_made_without_looking_the_c_library_up_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctypes.util.find_library runs `ldconfig -p`, a process for each watch: every
    process of every SQLite worker made one as it started."""
    import ctypes.util

    def refused(name: str) -> str | None:
        raise AssertionError(f"find_library({name!r}) called")

    monkeypatch.setattr(ctypes.util, "find_library", refused)
    watched = tmp_path / "watched"
    watched.write_text("")
    watch = FileWatch([str(watched)], CHANGED, directly=True)
    try:
        _append(watched)
        assert wait_for(lambda: _readable(watch), 5)
    finally:
        watch.close()
