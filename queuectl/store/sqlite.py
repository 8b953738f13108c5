"""The embedded backend: one SQLite file in WAL mode, one connection per process.

Writes that must be atomic run in `BEGIN IMMEDIATE`, which takes SQLite's single write
lock up front: two processes can never both claim a job, and a busy database makes the
second writer wait (busy timeout) instead of failing half-way. The queries are in
sqlite.sql, under the same names as postgres.sql.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from queuectl import rules
from queuectl.errors import (
    StoreError,
    StoreGone,
    StoreRefused,
)

if TYPE_CHECKING:
    from queuectl.store.sqlite_waiter import SqliteChangeWaiter

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
from queuectl.store import queries, sqlite_connect, sqlite_rows
from queuectl.store.guarded import Finishing, GuardedStore, finish_params
from queuectl.store.paging import id_prefix_range, merge_pages
from queuectl.store.queries import check_schema_version, load_migrations, load_queries
from queuectl.store.sql_changes import Dialect, statement
from queuectl.store.sqlite_connect import (
    connect_file,
    file_identity,
    sqlite_path,
    translate_error,
)
from queuectl.store.sqlite_enqueue import insert_jobs
from queuectl.store.sqlite_observe import SqliteObserve

Q = load_queries("sqlite.sql")

T = TypeVar("T")
SQLITE = Dialect(param=lambda name: f":{name}", now=":now", casts={})


def _json(values: Sequence[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


class SqliteStore(GuardedStore, SqliteObserve):
    """`Store` on one SQLite file. Safe to share between threads (calls are serialised)."""

    backend = "sqlite"

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

    # -- plumbing -------------------------------------------------------------------

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

        A worker's connection has no busy handler (see _connect) and looks again every
        50 us to 2 ms; other connections let SQLite's handler wait."""
        give_up = time.monotonic() + sqlite_connect.BUSY_TIMEOUT_S
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

    def _ensure_schema(self, migrate: bool) -> None:
        version = self._patiently(self._applied_version)
        if version < check_schema_version(version, "sqlite", self.path) and migrate:
            self.migrate()

    def _patiently(self, action: Callable[[], T]) -> T:
        """Processes opening a new file at once race to switch it to WAL, and SQLite
        answers the losers "locked" at once, without waiting: give them the busy timeout."""
        give_up = time.monotonic() + sqlite_connect.BUSY_TIMEOUT_S
        while True:
            try:
                return action()
            except StoreError as err:
                if "is locked" not in str(err) or time.monotonic() > give_up:
                    raise
            time.sleep(0.01)

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

    def schema_version(self) -> int:
        return self._patiently(self._applied_version)

    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        self._clock_offset += seconds

    # -- jobs: producers and operators -----------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[NewJob], default_max_retries: int) -> list[str]:
        now = self.now()
        with self._writing() as conn:
            insert_jobs(conn, jobs, default_max_retries, now)
        return [job.id for job in jobs]

    def get_job(self, job_id: str) -> Job | None:
        with self._reading() as conn:
            row = conn.execute(Q["get_job"], {"id": job_id}).fetchone()
        return sqlite_rows.job(row) if row else None

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        params = {"queue": queue, "limit": -1 if limit is None else limit, "state": state}
        with self._reading() as conn:
            query = Q["list_jobs"] if state is None else Q["list_jobs_in_state"]
            rows = conn.execute(query, params).fetchall()
        return [sqlite_rows.job(row) for row in rows]

    def query_jobs(self, query: JobQuery, after_seq: int | None, limit: int | None) -> list[Job]:
        oldest = query.order == "oldest"
        params: dict[str, Any] = {
            "after": after_seq,
            "queue": query.queue,
            "search": query.search,
            "limit": -1 if limit is None else limit,
            "now": self.now(),
            "oldest": oldest,
        }
        with self._reading() as conn:
            if query.id_prefix is not None:
                low, high = id_prefix_range(query.id_prefix)
                states = [str(s) for s in query.states if s != SCHEDULED]
                params.update(
                    id_low=low,
                    id_high=high,
                    states=json.dumps(states) if query.states else None,
                    scheduled=SCHEDULED in query.states,
                )
                rows = conn.execute(Q["query_jobs_by_id_prefix"], params).fetchall()
                return [sqlite_rows.job(row) for row in rows]
            direction = "oldest" if oldest else "newest"
            if not query.states:
                rows = conn.execute(Q[f"query_jobs_{direction}"], params).fetchall()
                return [sqlite_rows.job(row) for row in rows]
            # One range scan of jobs_state per state, merged by seq: no sort of the table.
            conn.execute("BEGIN")  # one snapshot for every state
            try:
                pages = []
                for state in query.states:
                    if state == SCHEDULED:
                        rows = conn.execute(Q["query_jobs_scheduled"], params).fetchall()
                    else:
                        args = {**params, "state": str(state), "scheduled": False}
                        query_name = f"query_jobs_in_state_{direction}"
                        rows = conn.execute(Q[query_name], args).fetchall()
                    pages.append([sqlite_rows.job(row) for row in rows])
            finally:
                conn.execute("COMMIT")
        return merge_pages(pages, oldest, limit)

    def list_attempts(self, job_id: str) -> list[Attempt]:
        with self._reading() as conn:
            rows = conn.execute(Q["list_attempts"], {"id": job_id}).fetchall()
        return [sqlite_rows.attempt(row) for row in rows]

    def count_jobs(self, queue: str | None = None) -> QueueCounts:
        by_state = dict.fromkeys(JobState, 0)
        with self._reading() as conn:
            conn.execute("BEGIN")  # one snapshot for both counts
            try:
                for state, n in conn.execute(Q["count_jobs"], {"queue": queue}):
                    by_state[JobState(state)] = n
                params = {"queue": queue, "now": self.now()}
                scheduled = conn.execute(Q["count_scheduled"], params).fetchone()[0]
            finally:
                conn.execute("COMMIT")
        return QueueCounts(by_state=by_state, scheduled=scheduled)

    def queue_stats(self) -> list[QueueStats]:
        with self._reading() as conn:
            rows = conn.execute(Q["queue_stats"], {"now": self.now()}).fetchall()
        return queries.queue_stats(rows)

    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        with self._reading() as conn:
            rows = conn.execute(Q["get_jobs"], {"ids": _json(job_ids)}).fetchall()
        return {row["id"]: sqlite_rows.job(row) for row in rows}

    def _apply_changes(self, changes: Sequence[rules.Change]) -> str | None:
        # Under the write lock nothing else writes; the commit itself wakes idle workers.
        try:
            with self._writing() as conn:
                now = self.now()
                for change in changes:
                    sql, params = statement(change, SQLITE)
                    if conn.execute(sql, {**params, "now": now}).fetchone() is None:
                        raise _Moved(change.job_id)
        except _Moved as moved:
            return moved.job_id
        return None

    def purge_jobs(self, states: Sequence[JobState], older_than: float | None = None) -> int:
        cutoff = self.now() - (older_than or 0.0)
        with self._writing() as conn:
            cursor = conn.execute(Q["purge_jobs"], {"states": _json(states), "cutoff": cutoff})
            return cursor.rowcount

    # -- jobs: workers ------------------------------------------------------------------

    def claim_jobs(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        with self._writing() as conn:
            now = self.now()  # read under the write lock: waiting for it must not eat the lease
            params = {
                "worker_id": worker_id,
                "queues": _json(queues),
                "limit": limit,
                "lease_seconds": lease_seconds,
                "now": now,
            }
            rows = conn.execute(Q["claim_jobs"], params).fetchall()
            # RETURNING does not promise an order; hand jobs out in claim order.
            rows.sort(key=lambda row: (-row["priority"], row["seq"]))
            jobs = [sqlite_rows.job(row) for row in rows]
            conn.executemany(
                Q["start_attempt"],
                [
                    {"id": j.id, "attempt": j.last_attempt, "worker_id": worker_id, "now": now}
                    for j in jobs
                ],
            )
        return jobs

    def heartbeat(
        self, worker_id: str, lease_seconds: float, held: Sequence[str] = ()
    ) -> WorkerOrders:
        self._check_file()
        params = {
            "worker_id": worker_id,
            "lease_seconds": lease_seconds,
            "held": _json(held),
            "now": self.now(),
        }
        with self._writing() as conn:
            worker = conn.execute(Q["touch_worker"], params).fetchone()
            renewed = conn.execute(Q["extend_leases"], params).fetchall()
            cancel = conn.execute(Q["cancel_orders"], params).fetchall()
        return WorkerOrders(
            stop=sqlite_rows.stop_mode(worker["stop_requested"]) if worker else None,
            cancel=frozenset(row["id"] for row in cancel),
            renewed=frozenset(row["id"] for row in renewed),
        )

    def _apply_finish(self, guard: rules.Held, finish: rules.Finish, result: RunResult) -> bool:
        params = finish_params(guard, finish, result)
        try:
            with self._writing() as conn:
                params["now"] = self.now()
                if conn.execute(Q["finish_job"], params).fetchone() is None:
                    return False
                conn.execute(Q["finish_attempt"], params)
        except (OverflowError, MemoryError) as err:  # a blob past what sqlite3 binds
            raise StoreRefused(f"database {self.path} refused the write: {err}") from None
        return True

    def _apply_finishes(self, finishes: Sequence[Finishing]) -> list[bool]:
        applied = []
        try:
            with self._writing() as conn:
                now = self.now()
                for guard, finish, result in finishes:
                    params = finish_params(guard, finish, result)
                    params["now"] = now
                    moved = conn.execute(Q["finish_job"], params).fetchone() is not None
                    if moved:
                        conn.execute(Q["finish_attempt"], params)
                    applied.append(moved)
        except (OverflowError, MemoryError) as err:  # a blob past what sqlite3 binds
            raise StoreRefused(f"database {self.path} refused the write: {err}") from None
        return applied

    def expired_jobs(self, limit: int = 100) -> list[Job]:
        with self._reading() as conn:
            rows = conn.execute(Q["expired_jobs"], {"now": self.now(), "limit": limit}).fetchall()
        return [sqlite_rows.job(row) for row in rows]

    def has_unfinished_jobs(self, queues: Sequence[str] | None) -> bool:
        params = {"queues": _json(queues), "now": self.now()}
        with self._reading() as conn:
            return bool(conn.execute(Q["has_unfinished_jobs"], params).fetchone()[0])

    def change_waiter(self) -> SqliteChangeWaiter:
        from queuectl.store.sqlite_waiter import SqliteChangeWaiter

        return SqliteChangeWaiter(self.path)

    # -- config -------------------------------------------------------------------------

    def get_config(self) -> dict[str, str]:
        with self._reading() as conn:
            return {row["key"]: row["value"] for row in conn.execute(Q["get_config"])}

    def set_config(self, key: str, value: str) -> None:
        with self._writing() as conn:
            conn.execute(Q["set_config"], {"key": key, "value": value})

    def reset_config(self, key: str | None = None) -> None:
        with self._writing() as conn:
            conn.execute(Q["reset_config"], {"key": key})

    # -- paused queues ------------------------------------------------------------------

    def pause_queues(self, queues: Sequence[str]) -> None:
        with self._writing() as conn:
            conn.execute(Q["pause_queues"], {"queues": _json(queues), "now": self.now()})

    def resume_queues(self, queues: Sequence[str] | None) -> None:
        with self._writing() as conn:  # the commit itself wakes idle workers
            conn.execute(Q["resume_queues"], {"queues": _json(queues)})

    def paused_queues(self) -> list[str]:
        with self._reading() as conn:
            return [row["queue"] for row in conn.execute(Q["paused_queues"])]

    # -- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerRegistration) -> None:
        params = {
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "queues": json.dumps(list(worker.queues)),
            "slots": worker.slots,
            "now": self.now(),
        }
        with self._writing() as conn:
            conn.execute(Q["register_worker"], params)

    def unregister_worker(self, worker_id: str) -> None:
        with self._writing() as conn:
            conn.execute(Q["unregister_worker"], {"worker_id": worker_id})

    def list_workers(self, alive_within: float | None = None) -> list[WorkerInfo]:
        params = {"alive_within": alive_within, "now": self.now()}
        with self._reading() as conn:
            rows = conn.execute(Q["list_workers"], params).fetchall()
        return [sqlite_rows.worker(row) for row in rows]

    def request_worker_stop(self, mode: StopMode, worker_ids: Sequence[str] | None = None) -> int:
        params = {
            "mode": str(mode),
            "replaces": _json(rules.stops_replaced_by(mode)),
            "ids": _json(worker_ids),
        }
        with self._writing() as conn:
            return conn.execute(Q["request_worker_stop"], params).rowcount

    def prune_workers(self, dead_for: float) -> int:
        with self._writing() as conn:
            cursor = conn.execute(Q["prune_workers"], {"dead_for": dead_for, "now": self.now()})
            return cursor.rowcount


class _Moved(Exception):
    """A job changed since its change was decided: roll the whole batch back."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


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
