"""PostgreSQL's plumbing, under both halves of PostgresStore (postgres_observe.py,
postgres.py): the store's one connection (opened again after a loss), transactions and
the retry of reads, the schema check and migrations, and the store's clock.

The connection runs in autocommit mode: a change of several statements runs in one
explicit transaction, a single statement is atomic by itself. Every time is the server's
`now()`. A lost connection raises StoreUnavailable; the next call opens a new one. Reads
are retried once on the new connection; writes never are (the caller decides, since the
server may have committed one before the connection dropped).
"""

from __future__ import annotations

import contextlib
import functools
import select
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from queuectl.errors import StoreError
from queuectl.store.postgres_connect import (
    Row,
    connect_server,
    redacted_url,
    refused,
    split_url,
    translate_error,
)
from queuectl.store.queries import check_schema_version, load_migrations, load_queries

with contextlib.suppress(ImportError):  # without the `postgres` extra, connect_server says so
    import psycopg

Q = load_queries("postgres.sql")
# Idle workers LISTEN here (postgres_waiter.py); whatever makes a job claimable (or gives
# a worker new orders) sends a NOTIFY in the same transaction.
CHANNEL = "queuectl_jobs"
NOTIFY = f"NOTIFY {CHANNEL}"  # delivered at commit; repeats in one transaction fold into one
# pg_advisory_xact_lock key serialising migrations: the bytes of "queuectl" as a bigint.
MIGRATION_LOCK = int.from_bytes(b"queuectl", "big")

T = TypeVar("T")


class PostgresBase:
    """One PostgreSQL database's connection, shared by the store's threads (calls are
    serialised on it)."""

    def __init__(
        self, url: str, durable: bool = True, migrate: bool = True, check_schema: bool = True
    ) -> None:
        self.url = url
        self.remote = True
        self._dsn, self._poll_only = split_url(url)
        self._target = redacted_url(self._dsn)
        self._durable = durable
        self._lock = threading.RLock()
        self._closed = False
        self._q = Q  # the queries, on the server's clock (see advance_clock)
        self._clock_offset = 0.0
        self._conn: psycopg.Connection[Row] | None = connect_server(
            self._dsn, durable, self._poll_only
        )
        try:
            if check_schema:
                self._ensure_schema(migrate)
        except BaseException:
            self.close()
            raise

    # -- transactions ---------------------------------------------------------------------

    def _run(
        self,
        work: Callable[[psycopg.Connection[Row]], T],
        *,
        read: bool = False,
        transaction: bool = True,
    ) -> T:
        """Run `work` on the connection, in one transaction unless it is a single statement
        (atomic on its own in autocommit, and one round trip instead of three). A read is
        tried once more on a new connection when the old one turned out to be lost; a
        write never is: the server may have committed it just before the loss."""
        tries = 2 if read else 1
        with self._lock:
            for attempt in range(1, tries + 1):
                if self._closed:
                    raise StoreError("the store is closed")
                if self._conn is None or self._conn.closed:
                    self._conn = connect_server(self._dsn, self._durable, self._poll_only)
                conn = self._conn
                try:
                    if not transaction:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
                except psycopg.Error as err:
                    # An admin shutdown or a connection left mid-transaction is as good as
                    # lost: start afresh rather than reuse a connection in doubt.
                    lost = (
                        conn.broken
                        or conn.closed
                        or (isinstance(err, psycopg.OperationalError) and not refused(err))
                        or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
                    )
                    if lost:  # the next call (or the retry) opens a new connection
                        conn.close()
                        self._conn = None
                    if not lost or attempt == tries:
                        raise translate_error(err, lost, self._target) from None
            raise AssertionError("unreachable")

    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        work = lambda conn: conn.execute(self._q[query], params).fetchall()  # noqa: E731
        return self._run(work, read=True, transaction=False)

    def _statement(self, query: str, params: dict[str, Any]) -> tuple[list[Row], int]:
        """One write statement (atomic by itself): its rows and its row count."""

        def work(conn: psycopg.Connection[Row]) -> tuple[list[Row], int]:
            cursor = conn.execute(self._q[query], params)
            return (cursor.fetchall() if cursor.description else []), cursor.rowcount

        return self._run(work, transaction=False)

    # -- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ping(self) -> str:
        def work(conn: psycopg.Connection[Row]) -> str:
            conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
            info = conn.info
            major, minor = divmod(info.server_version, 10000)
            return f"PostgreSQL {major}.{minor} at {info.host}:{info.port}/{info.dbname}"

        return self._run(work, read=True, transaction=False)

    def durability_warning(self) -> str | None:
        return None  # enqueues keep synchronous_commit on: committed is on disk

    # -- the clock ------------------------------------------------------------------------

    def now(self) -> float:
        def work(conn: psycopg.Connection[Row]) -> float:
            sql = "SELECT extract(epoch FROM now())::float8 AS now"
            row = conn.execute(on_clock(sql, self._clock_offset)).fetchone()
            assert row is not None
            return float(row["now"])

        return self._run(work, read=True, transaction=False)

    @property
    def _now_sql(self) -> str:
        return on_clock("now()", self._clock_offset)

    def advance_clock(self, seconds: float) -> None:
        self._clock_offset += seconds
        self._q = {name: on_clock(sql, self._clock_offset) for name, sql in Q.items()}

    # -- schema -------------------------------------------------------------------------

    def _ensure_schema(self, migrate: bool) -> None:
        version = self.schema_version()
        if version < check_schema_version(version, "postgres", self._target) and migrate:
            self.migrate()

    def check_schema(self, migrate: bool) -> None:
        """The schema check of an open, for a store opened without it (ahead.py)."""
        self._ensure_schema(migrate)

    def connection_usable(self) -> bool:
        """Open, idle, and nothing unread: a server that ended the session (a restart,
        pg_terminate_backend) has said so on the socket by now."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return False
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        return not readable

    def migrate(self) -> list[int]:
        applied = []
        for version, script in load_migrations("postgres"):
            if self._run(functools.partial(_apply_migration, version, script)):
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        return self._run(
            functools.partial(_applied_version, self._target), read=True, transaction=False
        )


def on_clock(sql: str, offset: float) -> str:
    """`sql` with the server's now() moved `offset` seconds on (advance_clock, for tests;
    the queries run unchanged until a test drives the clock)."""
    if not offset:
        return sql
    return sql.replace("now()", f"(now() + make_interval(secs => {float(offset)!r}))")


def _apply_migration(version: int, script: str, conn: psycopg.Connection[Row]) -> bool:
    """Apply one migration unless it was; whether it was applied now."""
    # Many processes may open a fresh database at once: one migrates, the others wait
    # here and then find the version already applied.
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone()
    if done:
        return False
    conn.execute(script)  # no parameters: sent as is, all statements at once
    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
    return True


# The schema check of every open, in one round trip for a database queuectl made: its
# highest migration, whether the jobs table is there, and the type of the version column.
# (A database without schema_migrations fails it, and is looked at step by step below.)
CURRENT_VERSION = (
    "SELECT max(version) AS v, to_regclass('jobs') IS NOT NULL AS jobs,"
    " (SELECT t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
    "  WHERE a.attrelid = to_regclass('schema_migrations') AND a.attname = 'version'"
    "  AND NOT a.attisdropped) AS kind"
    " FROM schema_migrations"
)


def _applied_version(target: str, conn: psycopg.Connection[Row]) -> int:
    """The highest applied migration, 0 for an empty database; a database another program
    made (a jobs table without schema_migrations, or one of another shape) is refused."""
    try:
        row = conn.execute(CURRENT_VERSION).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        row = None  # a new database, or another program's: the steps below tell which
    if row is not None and row["v"] is not None and row["jobs"] and row["kind"] in INTEGERS:
        return int(row["v"])
    return _inspected_version(target, conn)


INTEGERS = ("int4", "int8")  # the version column's type (integer, bigint) in pg_type


def _inspected_version(target: str, conn: psycopg.Connection[Row]) -> int:
    """_applied_version step by step, for any database but a current queuectl one."""
    found = conn.execute(
        "SELECT to_regclass('schema_migrations') IS NOT NULL AS ours,"
        " to_regclass('jobs') IS NOT NULL AS jobs"
    ).fetchone()
    assert found is not None
    if found["ours"]:
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'schema_migrations' AND column_name = 'version'"
            " AND table_schema = current_schema()"
        ).fetchone()
        if kind is None or kind["data_type"] not in ("integer", "bigint"):
            raise StoreError(
                f"{target} has a schema_migrations table of another program: "
                "not a queuectl database"
            )
        row = conn.execute("SELECT max(version) AS v FROM schema_migrations").fetchone()
        version = int(row["v"] or 0) if row else 0
        if version and not found["jobs"]:
            raise StoreError(f"{target} has no jobs table: not a queuectl database")
        return version
    if found["jobs"]:
        raise StoreError(
            f"{target} has a jobs table but no schema_migrations: not a queuectl database"
        )
    return 0
