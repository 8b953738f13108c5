"""The server backend: PostgreSQL through psycopg 3, one connection per store object.

A claim is one `FOR UPDATE SKIP LOCKED` statement, so any number of workers on any number
of hosts can claim at once and never get the same job. Idle workers sleep in LISTEN on
`queuectl_jobs`; whatever makes a job claimable (or gives a worker new orders) sends a
NOTIFY in the same transaction. This half of PostgresStore keeps the jobs' life cycle, the
workers and config; its connection, transactions and clock are postgres_base.py's, the
observability reads postgres_observe.py's. The queries are in postgres.sql, under the
same names as sqlite.sql.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from queuectl import rules, workflow
from queuectl.errors import (
    DuplicateJob,
    InvalidSpec,
    StoreError,
    StoreRefused,
    UniqueKeyTaken,
)
from queuectl.models import (
    BLOCKED,
    SCHEDULED,
    Attempt,
    Job,
    JobLinks,
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
from queuectl.store import postgres_after, queries
from queuectl.store import postgres_rows as pg_rows
from queuectl.store.guarded import Applied, Finishing, GuardedStore, KeyClash
from queuectl.store.paging import id_prefix_range, merge_pages
from queuectl.store.postgres_base import CHANNEL, NOTIFY, Q
from queuectl.store.postgres_connect import Row
from queuectl.store.postgres_limits import PostgresLimits
from queuectl.store.postgres_observe import PostgresObserve
from queuectl.store.postgres_records import PostgresRecords
from queuectl.store.sql_changes import (
    Dialect,
    Moved,
    alike,
    array_statement,
    finish_params,
)

if TYPE_CHECKING:
    import psycopg

    from queuectl.store.postgres_waiter import PostgresChangeWaiter

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
        rules.Field.KEEP_DAEMONS: "{}::boolean",
        rules.Field.CWD: "{}::text",
        rules.Field.ENV: "{}::jsonb",
        rules.Field.CONCURRENCY_KEY: "{}::text",
    },
)


def _enqueue_columns(jobs: Sequence[NewJob], default_max_retries: int) -> dict[str, Any]:
    """enqueue_job's parameters: one array per column, in the jobs' order."""
    return {
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
        "after_modes": [None] * len(jobs),
        "blockers": [0] * len(jobs),
        "dependents": [0] * len(jobs),
        "concurrency_keys": [j.concurrency_key for j in jobs],
        "unique_keys": [j.unique_key for j in jobs],
        "default_max_retries": default_max_retries,
    }


WARM_UP_LOCK_WAIT = "50ms"  # the most a spare's warm-up waits for the jobs table's lock
_MAY_INSERT = "SELECT has_table_privilege('jobs', 'INSERT') AS ok"


@functools.cache
def _with_notify(insert: str) -> str:
    """An INSERT ... RETURNING id as one statement that also notifies idle workers of
    each row it inserted (made once per text of the INSERT, which advance_clock changes)."""
    body = insert.strip().rstrip(";")
    return f"WITH inserted AS ({body}) SELECT id, pg_notify('{CHANNEL}', '') FROM inserted"


def psycopg_errors() -> Any:
    """psycopg.errors, imported when first needed (as psycopg itself is)."""
    from psycopg import errors

    return errors


class PostgresStore(GuardedStore, PostgresObserve, PostgresRecords, PostgresLimits):
    """`Store` on one PostgreSQL database. Safe to share between threads (calls are
    serialised on its one connection)."""

    backend = "postgres"

    # -- jobs: producers and operators -----------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[NewJob], default_max_retries: int) -> list[str]:
        if not jobs:
            return []
        params = _enqueue_columns(jobs, default_max_retries)
        outside = workflow.check_graph(jobs)
        repeated = rules.repeated_unique_key(jobs)
        if repeated is not None:
            raise repeated
        keys = sorted({j.unique_key for j in jobs if j.unique_key is not None})
        if len(jobs) == 1 and not keys and not jobs[0].after:
            return self._enqueue_one(jobs[0].id, params)
        return self._enqueue_batch(jobs, params, keys, outside)

    def _enqueue_batch(
        self, jobs: Sequence[NewJob], params: dict[str, Any], keys: list[str], outside: list[str]
    ) -> list[str]:
        """Any enqueue in one transaction: all or none (a taken id rolls back the rest)."""

        def work(conn: psycopg.Connection[Row]) -> None:
            if keys:
                self._unique_keys_free(conn, jobs, keys)
            links = postgres_after.link_params(conn, self._q, jobs, outside)
            if links is not None:
                params.update(links.columns)
            try:
                rows = conn.execute(self._q["enqueue_job"], params).fetchall()
            except psycopg_errors().UniqueViolation:  # a requeue took a key meanwhile
                raise KeyClash() from None
            inserted = {row["id"] for row in rows}
            for job in jobs:
                if job.id not in inserted:  # taken before, or twice in this batch
                    raise DuplicateJob(job.id)
                inserted.discard(job.id)
            if links is not None:
                conn.execute(self._q["insert_after"], links.edges)
            conn.execute(NOTIFY)

        for _ in range(3):
            try:
                self._run(work)
                return [job.id for job in jobs]
            except KeyClash:
                continue  # read the holders again: the next try names the one that won
        raise StoreError("unique keys kept changing while enqueueing; try again")

    def _enqueue_one(self, job_id: str, params: dict[str, Any]) -> list[str]:
        """One job with no unique key and no `after`: one statement, atomic by itself,
        with its NOTIFY (sent at its commit) - one round trip where a transaction takes
        four (a loop of `queuectl enqueue`, the time from an enqueue to a worker's pickup).
        A taken id inserts nothing, so there is nothing to roll back."""
        sql = self._enqueue_one_sql
        rows = self._run(lambda conn: conn.execute(sql, params).fetchall(), transaction=False)
        if not rows:
            raise DuplicateJob(job_id)
        return [job_id]

    @property
    def _enqueue_one_sql(self) -> str:
        """The statement `_enqueue_one` runs, and so the one `warm_up` warms."""
        return _with_notify(self._q["enqueue_job"])

    def warm_up(self) -> None:
        """For a store opened ahead (ahead.py): read the schema version, then run the
        one-job enqueue (`_enqueue_one`) with no job. It inserts, notifies and writes
        nothing (its statement triggers count no rows; no transaction id is taken), but
        the next enqueue on this session finds the tables and indexes open and the
        triggers' plpgsql compiled: 2 ms instead of 6 on this project's VM. Only on a
        schema this queuectl made, for a role that may insert (else the server would log
        an error for each spare), and waiting at most WARM_UP_LOCK_WAIT for the lock."""
        if self.schema_version() != queries.latest_migration("postgres"):
            return

        def work(conn: psycopg.Connection[Row]) -> None:
            conn.execute(f"SET LOCAL lock_timeout = '{WARM_UP_LOCK_WAIT}'")
            allowed = conn.execute(_MAY_INSERT).fetchone()
            if allowed is None or not allowed["ok"]:
                return
            # A lock not had (a migration under way) is given up in a savepoint: _run
            # would take its error (an OperationalError) for a lost connection.
            with contextlib.suppress(psycopg_errors().LockNotAvailable), conn.transaction():
                conn.execute(self._enqueue_one_sql, _enqueue_columns([], 0))

        with contextlib.suppress(StoreError):  # the command will meet it, if it matters
            self._run(work)

    def _unique_keys_free(
        self, conn: psycopg.Connection[Row], jobs: Sequence[NewJob], keys: list[str]
    ) -> None:
        """UniqueKeyTaken for the first job whose key a waiting or running job holds; the
        keys locked first, so that no enqueue takes one before this one commits."""
        conn.execute(self._q["lock_unique_keys"], {"keys": keys})
        held = {
            r["unique_key"]: r["id"]
            for r in conn.execute(self._q["unique_holders"], {"keys": keys})
        }
        for job in jobs:
            if job.unique_key is not None and job.unique_key in held:
                raise UniqueKeyTaken(job.id, job.unique_key, held[job.unique_key])

    def unique_holders(self, keys: Sequence[str]) -> dict[str, str]:
        rows = self._read("unique_holders", {"keys": list(keys)})
        return {row["unique_key"]: row["id"] for row in rows}

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
        if SCHEDULED not in query.states and BLOCKED not in query.states:
            return [
                pg_rows.job(row) for row in self._read(f"query_jobs_in_state_{direction}", params)
            ]

        def work(conn: psycopg.Connection[Row]) -> list[Job]:
            # Scheduled jobs come from their own index; the states' pages merge with them.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one snapshot
            pages = [
                [pg_rows.job(r) for r in conn.execute(self._q[f"query_jobs_{name}"], params)]
                for name in (SCHEDULED, BLOCKED)
                if name in query.states
            ]
            others = [str(s) for s in query.states if s not in (SCHEDULED, BLOCKED)]
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
            blocked = conn.execute(self._q["count_blocked"], {"queue": queue}).fetchone()
            return QueueCounts(
                by_state=by_state,
                scheduled=scheduled["n"] if scheduled else 0,
                blocked=blocked["n"] if blocked else 0,
            )

        return self._run(work, read=True)

    def queue_stats(self) -> list[QueueStats]:
        return queries.queue_stats(self._read("queue_stats"))

    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        rows = self._read("get_jobs", {"ids": list(job_ids)})
        return {row["id"]: pg_rows.job(row) for row in rows}

    def job_links(self, job_ids: Sequence[str]) -> dict[str, JobLinks]:
        return self._run(lambda conn: postgres_after.links(conn, self._q, job_ids), read=True)

    def _apply_changes(self, changes: Sequence[rules.Change]) -> Applied:
        dialect = POSTGRES._replace(now=self._now_sql)

        def work(conn: psycopg.Connection[Row]) -> tuple[str, ...]:
            for group in alike(changes):  # one statement for each group of changes alike
                sql, params = array_statement(group, dialect)
                try:
                    applied = {row["id"] for row in conn.execute(sql, params)}
                except psycopg_errors().UniqueViolation:  # jobs_unique_key: a key held
                    raise KeyClash() from None
                for change in group:
                    if change.job_id not in applied:
                        raise Moved(change.job_id)
            back = postgres_after.after_changes(conn, self._q, changes)
            if any(change.wakes_workers for change in changes) or back:
                conn.execute(NOTIFY)
            return back

        try:
            return Applied(brought_back=self._run(work))
        except Moved as moved:  # raised inside the transaction: it rolled back
            return Applied(moved=moved.job_id)

    def purge_jobs(
        self, states: Sequence[JobState], older_than: float | None = None, limit: int | None = None
    ) -> int:
        if limit is not None:
            gone = 0
            for state in states:
                args = {"state": str(state), "older_than": older_than or 0.0, "limit": limit - gone}
                gone += self._statement("purge_jobs_batch", args)[1]
            return gone
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
        if not rows:  # none taken: perhaps a limit is in force (queuectl.limits)
            rows = self._claim_limited(params)
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
        columns: dict[str, Any] = {name: [row[name] for row in rows] for name in rows[0]}
        columns |= postgres_after.FINISH_PARAMS
        wakes = any(finish.state in rules.CLAIMABLE for _, finish, _ in finishes)

        def work(conn: psycopg.Connection[Row]) -> list[bool]:
            moved = {row["id"] for row in conn.execute(self._q["finish_jobs"], columns)}
            if wakes and moved:
                conn.execute(NOTIFY)  # a retry: claimable now or, later, a time to wake
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

    def next_due_in(self, queues: Sequence[str] | None) -> float | None:
        return _float(self._read("next_due_in", {"queues": _list(queues)})[0]["due_in"])

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


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
