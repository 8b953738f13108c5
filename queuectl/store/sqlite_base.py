"""SQLite's plumbing, under both halves of SqliteStore (sqlite_observe.py, sqlite.py): the
file's one connection, read and write transactions, the schema check and migrations, and
the store's clock.

Writes that must be atomic run in `BEGIN IMMEDIATE`, which takes SQLite's single write
lock up front: two processes can never both claim a job, and a busy database makes the
second writer wait (busy timeout) instead of failing half-way.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from queuectl.errors import StoreError, StoreGone
from queuectl.store import sqlite_connect
from queuectl.store.queries import check_schema_version, load_migrations, load_queries
from queuectl.store.sqlite_connect import connect_file, file_identity, sqlite_path, translate_error

Q = load_queries("sqlite.sql")

T = TypeVar("T")


class SqliteBase:
    """One SQLite file's connection, shared by the store's threads (calls are serialised)."""

    def __init__(
        self, url: str, durable: bool = True, migrate: bool = True, check_schema: bool = True
    ) -> None:
        self.url = url
        self.remote = False
        self.path = sqlite_path(url)
        self._conn = connect_file(self.path, durable)
        self._lock = threading.RLock()
        self._identity = file_identity(self.path)
        self._clock_offset = 0.0  # advance_clock (tests): every time below is self.now()
        try:
            if check_schema:
                self._ensure_schema(migrate)
        except BaseException:
            self._conn.close()
            raise

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as err:
                raise translate_error(err, self.path) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock first."""
        with self._lock:
            conn = self._conn
            self._begin_write(conn)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(err, sqlite3.Error):
                    raise translate_error(err, self.path) from None
                raise

    def _begin_write(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting up to the busy timeout for another writer to finish.

        A worker's connection has no busy handler (see connect_file) and looks again every
        50 us to 2 ms; other connections let SQLite's handler wait."""
        give_up = time.monotonic() + sqlite_connect.busy_timeout_s()
        pause = 0.00005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                busy = "locked" in str(err) or "busy" in str(err)
                if not busy or time.monotonic() >= give_up:
                    raise translate_error(err, self.path) from None
            except sqlite3.Error as err:
                raise translate_error(err, self.path) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    def _check_file(self) -> None:
        """SQLite keeps writing to a file deleted under it, where nobody else will ever
        look: a worker left on it would run on unseen by `status` and `worker stop`."""
        if file_identity(self.path) != self._identity:
            raise StoreGone(
                f"database file {self.path} was deleted or replaced while in use; stopping"
            )

    def _patiently(self, action: Callable[[], T]) -> T:
        """Processes opening a new file at once race to switch it to WAL, and SQLite
        answers the losers "locked" at once, without waiting: give them the busy timeout."""
        give_up = time.monotonic() + sqlite_connect.busy_timeout_s()
        while True:
            try:
                return action()
            except StoreError as err:
                if "is locked" not in str(err) or time.monotonic() > give_up:
                    raise
            time.sleep(0.01)

    # -- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def ping(self) -> str:
        with self._reading() as conn:
            conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        return f"SQLite {sqlite3.sqlite_version} at {self.path}"

    def durability_warning(self) -> str | None:
        return None  # enqueues commit with synchronous=FULL

    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        self._clock_offset += seconds

    # -- schema -------------------------------------------------------------------------

    def _ensure_schema(self, migrate: bool) -> None:
        version = self._patiently(self._applied_version)
        if version < check_schema_version(version, "sqlite", self.path) and migrate:
            self.migrate()

    def schema_version(self) -> int:
        return self._patiently(self._applied_version)

    def _applied_version(self) -> int:
        """0 for an empty file; a file another program made (its own tables, or a
        `schema_migrations` of another shape) is refused and never changed."""
        not_ours = StoreError(f"{self.path} is a SQLite database, but not a queuectl one")
        with self._reading() as conn:
            tables = {
                r[0]
                for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if not r[0].startswith("sqlite_")
            }
            if "schema_migrations" not in tables:
                if tables:
                    raise not_ours
                return 0
            columns = {r[1] for r in conn.execute("PRAGMA table_info(schema_migrations)")}
            if "version" not in columns:
                raise not_ours
            version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        if version is None:
            if tables - {"schema_migrations"}:
                raise not_ours
            return 0
        if not isinstance(version, int) or "jobs" not in tables:
            raise not_ours
        return version

    def migrate(self) -> list[int]:
        return self._patiently(self._migrate)

    def _migrate(self) -> list[int]:
        applied: list[int] = []
        with self._lock:
            try:
                # WAL lets readers go on while a worker writes; the mode is kept in the file.
                self._conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.Error as err:
                raise translate_error(err, self.path) from None
        for version, script in load_migrations("sqlite"):
            with self._writing() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
                )
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
                ).fetchone()
                if done:
                    continue
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
                applied.append(version)
        return applied


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (executescript would commit early)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise StoreError("migration script ends with an incomplete statement")
