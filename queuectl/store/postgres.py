"""The server backend: PostgreSQL through psycopg 3, one connection per store object.

The connection runs in autocommit mode: a change of several statements runs in one
explicit transaction, a single statement is atomic by itself. A claim is one
`FOR UPDATE SKIP LOCKED` statement, so any number of workers on any number of hosts can
claim at once and never get the same job. Every time is the server's `now()`.
Idle workers sleep in LISTEN on `queuectl_jobs`; whatever makes a job claimable (or gives
a worker new orders) sends a NOTIFY in the same transaction. The queries are in
postgres.sql, under the same names as sqlite.sql.

A lost connection raises StoreUnavailable; the next call opens a new one. Reads are
retried once on the new connection; writes never are (the caller decides, since the
server may have committed one before the connection dropped).
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from queuectl import rules
from queuectl.errors import (
    DuplicateJob,
    InvalidSpec,
    StoreError,
    StoreRefused,
)
from queuectl.models import (
    SCHEDULED,
    Attempt,
    Job,
    JobQuery,
    JobState,
    NewJob,
    QueueCounts,
    QueueStats,
    RunResult,
    StopMode,
    WorkerInfo,
    WorkerOrders,
    WorkerRegistration,
)
from queuectl.store import postgres_rows as pg_rows
from queuectl.store import queries
from queuectl.store.guarded import Finishing, GuardedStore
from queuectl.store.paging import id_prefix_range, merge_pages
from queuectl.store.postgres_connect import (
    Row,
    connect_server,
    redacted_url,
    refused,
    split_url,
    translate_error,
)
from queuectl.store.postgres_observe import PostgresObserve
from queuectl.store.queries import check_schema_version, load_migrations, load_queries
from queuectl.store.sql_changes import Dialect, statement
from queuectl.store.sql_params import finish_params

with contextlib.suppress(ImportError):  # without the `postgres` extra, connect_server says so
    import psycopg

if TYPE_CHECKING:
    from queuectl.store.postgres_waiter import PostgresChangeWaiter

Q = load_queries("postgres.sql")
CHANNEL = "queuectl_jobs"
NOTIFY = f"NOTIFY {CHANNEL}"  # delivered at commit; repeats in one transaction fold into one
# pg_advisory_xact_lock key serialising migrations: the bytes of "queuectl" as a bigint.
MIGRATION_LOCK = int.from_bytes(b"queuectl", "big")

_TIME = "to_timestamp({}::float8)"
POSTGRES = Dialect(
    param=lambda name: f"%({name})s",
    now="now()",  # each store's own clock: see _apply_changes and advance_clock
    casts={
        rules.Field.RUN_AT: _TIME,
        rules.Field.LEASE_EXPIRES_AT: _TIME,
        rules.Field.PRIORITY: "{}::bigint",
        rules.Field.MAX_RETRIES: "{}::bigint",
        rules.Field.OWN_MAX_RETRIES: "{}::bigint",
        rules.Field.TIMEOUT: "{}::float8",
        rules.Field.ATTEMPTS: "{}::integer",
        rules.Field.EXIT_CODE: "{}::integer",
        rules.Field.CANCEL_REQUESTED: "{}::boolean",
    },
)

T = TypeVar("T")


class PostgresStore(GuardedStore, PostgresObserve):
    """`Store` on one PostgreSQL database. Safe to share between threads (calls are
    serialised on its one connection)."""

    backend = "postgres"

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

    # -- plumbing -------------------------------------------------------------------

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

    @property
    def _now_sql(self) -> str:
        return on_clock("now()", self._clock_offset)

    def advance_clock(self, seconds: float) -> None:
        self._clock_offset += seconds
        self._q = {name: on_clock(sql, self._clock_offset) for name, sql in Q.items()}

    def _ensure_schema(self, migrate: bool) -> None:
        version = self.schema_version()
        if version < check_schema_version(version, "postgres", self._target) and migrate:
            self.migrate()

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

    def migrate(self) -> list[int]:
        def apply(version: int, script: str, conn: psycopg.Connection[Row]) -> bool:
            # Many processes may open a fresh database at once: one migrates, the others
            # wait here and then find the version already applied.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)
            ).fetchone()
            if done:
                return False
            conn.execute(script)  # no parameters: sent as is, all statements at once
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            return True

        applied = []
        for version, script in load_migrations("postgres"):
            if self._run(functools.partial(apply, version, script)):
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        def work(conn: psycopg.Connection[Row]) -> int:
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
                        f"{self._target} has a schema_migrations table of another program: "
                        "not a queuectl database"
                    )
                row = conn.execute("SELECT max(version) AS v FROM schema_migrations").fetchone()
                version = int(row["v"] or 0) if row else 0
                if version and not found["jobs"]:
                    raise StoreError(f"{self._target} has no jobs table: not a queuectl database")
                return version
            if found["jobs"]:
                raise StoreError(
                    f"{self._target} has a jobs table but no schema_migrations: "
                    "not a queuectl database"
                )
            return 0

        return self._run(work, read=True, transaction=False)

    def now(self) -> float:
        def work(conn: psycopg.Connection[Row]) -> float:
            sql = "SELECT extract(epoch FROM now())::float8 AS now"
            row = conn.execute(on_clock(sql, self._clock_offset)).fetchone()
            assert row is not None
            return float(row["now"])

        return self._run(work, read=True, transaction=False)

    # -- jobs: producers and operators -----------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[NewJob], default_max_retries: int) -> list[str]:
        if not jobs:
            return []
        params = {
            "ids": [j.id for j in jobs],
            "commands": [j.command for j in jobs],
            "queues": [j.queue for j in jobs],
            "priorities": [j.priority for j in jobs],
            "max_retries": [j.max_retries for j in jobs],
            # float(): psycopg refuses a list mixing int and float.
            "timeouts": [_float(j.timeout) for j in jobs],
            "run_ats": [_float(j.run_at) for j in jobs],
            "delays": [float(j.delay) for j in jobs],
            "keep_daemons": [j.keep_daemons for j in jobs],
            "cwds": [j.cwd for j in jobs],
            "envs": [json.dumps(j.env) if j.env else None for j in jobs],
            "default_max_retries": default_max_retries,
        }

        def work(conn: psycopg.Connection[Row]) -> None:
            inserted = {row["id"] for row in conn.execute(self._q["enqueue_job"], params)}
            for job in jobs:
                if job.id not in inserted:  # taken before, or twice in this batch
                    raise DuplicateJob(job.id)
                inserted.discard(job.id)
            conn.execute(NOTIFY)

        self._run(work)
        return [job.id for job in jobs]

    def get_job(self, job_id: str) -> Job | None:
        rows = self._read("get_job", {"id": job_id})
        return pg_rows.job(rows[0]) if rows else None

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        params = {"queue": queue, "limit": limit, "state": None if state is None else str(state)}
        rows = self._read("list_jobs" if state is None else "list_jobs_in_state", params)
        return [pg_rows.job(row) for row in rows]

    def query_jobs(self, query: JobQuery, after_seq: int | None, limit: int | None) -> list[Job]:
        oldest = query.order == "oldest"
        params: dict[str, Any] = {
            "after": after_seq,
            "queue": query.queue,
            "search": query.search,
            "limit": limit,
            "oldest": oldest,
            "states": [str(s) for s in query.states] if query.states else None,
        }
        direction = "oldest" if oldest else "newest"
        if query.id_prefix is not None:
            params["id_low"], params["id_high"] = id_prefix_range(query.id_prefix)
            return [pg_rows.job(row) for row in self._read("query_jobs_by_id_prefix", params)]
        if not query.states:
            return [pg_rows.job(row) for row in self._read(f"query_jobs_{direction}", params)]
        if SCHEDULED not in query.states:
            return [
                pg_rows.job(row) for row in self._read(f"query_jobs_in_state_{direction}", params)
            ]

        def work(conn: psycopg.Connection[Row]) -> list[Job]:
            # Scheduled jobs come from their own index; the states' pages merge with them.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one snapshot
            pages = [
                [pg_rows.job(r) for r in conn.execute(self._q["query_jobs_scheduled"], params)]
            ]
            others = [str(s) for s in query.states if s != SCHEDULED]
            if others:
                sql = self._q[f"query_jobs_in_state_{direction}"]
                rows = conn.execute(sql, {**params, "states": others}).fetchall()
                pages.append([pg_rows.job(row) for row in rows])
            return merge_pages(pages, oldest, limit)

        return self._run(work, read=True)

    def list_attempts(self, job_id: str) -> list[Attempt]:
        return [pg_rows.attempt(row) for row in self._read("list_attempts", {"id": job_id})]

    def count_jobs(self, queue: str | None = None) -> QueueCounts:
        def work(conn: psycopg.Connection[Row]) -> QueueCounts:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one snapshot
            by_state = dict.fromkeys(JobState, 0)
            for row in conn.execute(self._q["count_jobs"], {"queue": queue}):
                by_state[JobState(row["state"])] = row["n"]
            scheduled = conn.execute(self._q["count_scheduled"], {"queue": queue}).fetchone()
            return QueueCounts(by_state=by_state, scheduled=scheduled["n"] if scheduled else 0)

        return self._run(work, read=True)

    def queue_stats(self) -> list[QueueStats]:
        return queries.queue_stats(self._read("queue_stats"))

    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        rows = self._read("get_jobs", {"ids": list(job_ids)})
        return {row["id"]: pg_rows.job(row) for row in rows}

    def _apply_changes(self, changes: Sequence[rules.Change]) -> str | None:
        dialect = POSTGRES._replace(now=self._now_sql)

        def work(conn: psycopg.Connection[Row]) -> None:
            for change in changes:
                sql, params = statement(change, dialect)
                if conn.execute(sql, params).fetchone() is None:
                    raise _Moved(change.job_id)
            if any(change.wakes_workers for change in changes):
                conn.execute(NOTIFY)

        try:
            self._run(work)
        except _Moved as moved:  # raised inside the transaction: it rolled back
            return moved.job_id
        return None

    def purge_jobs(self, states: Sequence[JobState], older_than: float | None = None) -> int:
        params = {"states": [str(s) for s in states], "older_than": older_than or 0.0}
        return self._statement("purge_jobs", params)[1]

    # -- jobs: workers ------------------------------------------------------------------

    def claim_jobs(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        params = {
            "worker_id": worker_id,
            "queues": None if queues is None else list(queues),
            "limit": limit,
            "lease_seconds": lease_seconds,
        }
        rows, _ = self._statement("claim_jobs", params)
        jobs = [pg_rows.job(row) for row in rows]
        # The statement orders them already; the sort keeps that promise explicit.
        order = {row["id"]: row["seq"] for row in rows}
        return sorted(jobs, key=lambda job: (-job.priority, order[job.id]))

    def heartbeat(
        self, worker_id: str, lease_seconds: float, held: Sequence[str] = ()
    ) -> WorkerOrders:
        params = {"worker_id": worker_id, "lease_seconds": lease_seconds, "held": list(held)}

        def work(conn: psycopg.Connection[Row]) -> WorkerOrders:
            worker = conn.execute(self._q["touch_worker"], params).fetchone()
            renewed = conn.execute(self._q["extend_leases"], params).fetchall()
            cancel = conn.execute(self._q["cancel_orders"], params).fetchall()
            stop = worker["stop_requested"] if worker else None
            return WorkerOrders(
                stop=None if stop is None else StopMode(stop),
                cancel=frozenset(row["id"] for row in cancel),
                renewed=frozenset(row["id"] for row in renewed),
            )

        return self._run(work)

    def _apply_finish(self, guard: rules.Held, finish: rules.Finish, result: RunResult) -> bool:
        return self._apply_finishes([(guard, finish, result)])[0]

    def _apply_finishes(self, finishes: Sequence[Finishing]) -> list[bool]:
        """All in one statement (finish_jobs), each guarded on its own."""
        if not finishes:
            return []
        rows = [finish_params(guard, finish, result) for guard, finish, result in finishes]
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        wakes = any(finish.state is JobState.PENDING for _, finish, _ in finishes)

        def work(conn: psycopg.Connection[Row]) -> list[bool]:
            moved = {row["id"] for row in conn.execute(self._q["finish_jobs"], columns)}
            if wakes and moved:
                conn.execute(NOTIFY)  # a retry is claimable at once
            return [guard.job_id in moved for guard, _, _ in finishes]

        try:
            return self._run(work, transaction=wakes)
        except InvalidSpec as err:  # a DataError: a result that can never be stored as is
            raise StoreRefused(str(err)) from None
        except (OverflowError, MemoryError) as err:
            raise StoreRefused(f"PostgreSQL at {self._target} refused the write: {err}") from None

    def expired_jobs(self, limit: int = 100) -> list[Job]:
        return [pg_rows.job(row) for row in self._read("expired_jobs", {"limit": limit})]

    def has_unfinished_jobs(self, queues: Sequence[str] | None) -> bool:
        rows = self._read("has_unfinished_jobs", {"queues": _list(queues)})
        return bool(rows[0]["unfinished"])

    def change_waiter(self) -> PostgresChangeWaiter:
        from queuectl.store.postgres_waiter import PostgresChangeWaiter

        return PostgresChangeWaiter(self._dsn, self._poll_only)

    # -- config -------------------------------------------------------------------------

    def get_config(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self._read("get_config")}

    def set_config(self, key: str, value: str) -> None:
        self._statement("set_config", {"key": key, "value": value})

    def reset_config(self, key: str | None = None) -> None:
        self._statement("reset_config", {"key": key})

    # -- paused queues ------------------------------------------------------------------

    def pause_queues(self, queues: Sequence[str]) -> None:
        self._statement("pause_queues", {"queues": list(queues)})

    def resume_queues(self, queues: Sequence[str] | None) -> None:
        params = {"queues": None if queues is None else list(queues)}

        def work(conn: psycopg.Connection[Row]) -> None:
            conn.execute(Q["resume_queues"], params)
            conn.execute(NOTIFY)  # idle workers claim at once

        self._run(work)

    def paused_queues(self) -> list[str]:
        return [row["queue"] for row in self._read("paused_queues")]

    # -- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerRegistration) -> None:
        params = {
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "queues": list(worker.queues),
            "slots": worker.slots,
        }
        self._statement("register_worker", params)

    def unregister_worker(self, worker_id: str) -> None:
        self._statement("unregister_worker", {"worker_id": worker_id})

    def list_workers(self, alive_within: float | None = None) -> list[WorkerInfo]:
        rows = self._read("list_workers", {"alive_within": alive_within})
        return [pg_rows.worker(row) for row in rows]

    def request_worker_stop(self, mode: StopMode, worker_ids: Sequence[str] | None = None) -> int:
        params = {
            "mode": str(mode),
            "replaces": [str(m) for m in rules.stops_replaced_by(mode)],
            "ids": _list(worker_ids),
        }

        def work(conn: psycopg.Connection[Row]) -> int:
            asked = conn.execute(self._q["request_worker_stop"], params).rowcount
            if asked:
                conn.execute(NOTIFY)  # idle workers wake and heartbeat now
            return asked

        return self._run(work)

    def prune_workers(self, dead_for: float) -> int:
        return self._statement("prune_workers", {"dead_for": dead_for})[1]


def on_clock(sql: str, offset: float) -> str:
    """`sql` with the server's now() moved `offset` seconds on (advance_clock, for tests;
    the queries run unchanged until a test drives the clock)."""
    if not offset:
        return sql
    return sql.replace("now()", f"(now() + make_interval(secs => {float(offset)!r}))")


class _Moved(Exception):
    """A job changed since its change was decided: roll the whole batch back."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
