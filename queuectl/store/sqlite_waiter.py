"""Wake an idle worker when another process commits to the SQLite file."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import TYPE_CHECKING

from queuectl.errors import StoreError
from queuectl.store.sqlite_connect import connect_file, translate_error

if TYPE_CHECKING:
    from queuectl.store.inotify import FileWatch

# Without inotify, how often an idle worker looks at PRAGMA data_version.
POLL_INTERVAL_S = 0.005
# A WAL write means a commit is under way; how long to wait for it to become visible
# (microseconds in practice; more when the disk is slow to sync).
SETTLE_S = 0.01
# ...and, for `wait(0)` (a worker's loop, which has other things to do than wait), how
# soon to look again.
LOOK_AGAIN_S = 0.0005


class SqliteChangeWaiter:
    """Wakes when another connection commits.

    On Linux it sleeps on inotify until the database or its WAL file is written (every
    commit writes the WAL): no CPU while idle, a wake-up within a millisecond. Elsewhere
    it polls `PRAGMA data_version`, a counter in shared memory that changes with every
    commit by another connection."""

    def __init__(self, path: str) -> None:
        self._conn = connect_file(path, durable=False)
        self._version = self._data_version()
        self._under_way: float | None = None  # a commit seen coming: look until then
        self._next_look = 0.0  # ...and next at this time
        self._watch: FileWatch | None = None
        try:
            from queuectl.store.inotify import FileWatch  # ctypes: only for workers

            real = os.path.realpath(path)  # SQLite names the WAL after the file itself
            # Every commit writes the WAL (checkpoints write the database, and need no wake);
            # other files beside the database (a worker's log) wake nobody.
            self._watch = FileWatch([f"{real}-wal"], directly=True)
        except (OSError, AttributeError):
            self._watch = None  # no inotify here: poll instead

    def _data_version(self) -> int:
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as err:
            raise translate_error(err, "the change waiter's database") from None

    def fileno(self) -> int | None:
        """Readable when a change may have happened (inotify); None when polling."""
        return self._watch.fileno() if self._watch is not None else None

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            return self._wait(deadline, timeout > 0)
        except StoreError:
            self._under_way = None  # (no look again at a database that fails)
            raise

    def _wait(self, deadline: float, may_wait: bool) -> bool:
        if self._under_way is not None:  # a commit seen coming: visible yet?
            until, self._under_way = self._under_way, None
            # wait(0) only looks; a caller that may wait waits for it (up to its time).
            if self._changed(max(0.0, min(deadline, until) - time.monotonic())):
                return True
            if time.monotonic() < until:  # still coming, and the caller's time is up
                self._under_way = until
                self._next_look = time.monotonic() + LOOK_AGAIN_S
                return False
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            written = False
            if self._watch is not None:
                # A WAL write shows a commit coming; it is readable a moment later. A
                # wait(0) does not wait for it: look_again_at says when to look.
                written = self._watch.wait(remaining)
                settle = SETTLE_S if written and may_wait else 0.0
            else:
                settle = 0.0
                time.sleep(min(POLL_INTERVAL_S, remaining))
            if self._changed(settle):
                return True
            if written and not may_wait:
                self._under_way = time.monotonic() + SETTLE_S
                self._next_look = time.monotonic() + LOOK_AGAIN_S
            if time.monotonic() >= deadline:
                return False

    def look_again_at(self) -> float | None:
        if self._under_way is None:
            return None
        return min(self._under_way, self._next_look)

    def _changed(self, settle: float) -> bool:
        """Whether another connection committed since we last looked, waiting up to
        `settle` seconds for a commit whose WAL write we have just seen."""
        give_up = time.monotonic() + settle
        while True:
            version = self._data_version()
            if version != self._version:
                self._version = version
                return True
            if time.monotonic() >= give_up:
                return False
            time.sleep(0.0002)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self._conn.close()
