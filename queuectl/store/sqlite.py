"""The embedded backend: one SQLite file in WAL mode, one connection per process.

This half of SqliteStore keeps the jobs' life cycle, the workers and config; its
connection and transactions are sqlite_base.py's, the observability reads
sqlite_observe.py's. The queries are in sqlite.sql, under the same names as postgres.sql.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from queuectl import rules
from queuectl.errors import StoreRefused
from queuectl.models import (
    BLOCKED,
    FINAL_STATES,
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
from queuectl.store import queries, sqlite_after, sqlite_rows
from queuectl.store.guarded import Applied, Finishing, GuardedStore
from queuectl.store.paging import id_prefix_range, merge_pages
from queuectl.store.sql_changes import Dialect, Moved, alike, finish_params, row_statement
from queuectl.store.sqlite_base import Q
from queuectl.store.sqlite_enqueue import insert_jobs
from queuectl.store.sqlite_limits import SqliteLimits
from queuectl.store.sqlite_observe import SqliteObserve
from queuectl.store.sqlite_records import SqliteRecords

if TYPE_CHECKING:
    from queuectl.store.sqlite_waiter import SqliteChangeWaiter

SQLITE = Dialect(param=lambda name: f":{name}", now=":now", casts={})


def _json(values: Sequence[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


class SqliteStore(GuardedStore, SqliteObserve, SqliteRecords, SqliteLimits):
    """`Store` on one SQLite file. Safe to share between threads (calls are serialised)."""

    backend = "sqlite"

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
                states = [str(s) for s in query.states if s not in (SCHEDULED, BLOCKED)]
                params.update(
                    id_low=low,
                    id_high=high,
                    states=json.dumps(states) if query.states else None,
                    scheduled=SCHEDULED in query.states,
                    blocked=BLOCKED in query.states,
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
                    if state in (SCHEDULED, BLOCKED):
                        rows = conn.execute(Q[f"query_jobs_{state}"], params).fetchall()
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
                blocked = conn.execute(Q["count_blocked"], params).fetchone()[0]
            finally:
                conn.execute("COMMIT")
        return QueueCounts(by_state=by_state, scheduled=scheduled, blocked=blocked)

    def queue_stats(self) -> list[QueueStats]:
        with self._reading() as conn:
            rows = conn.execute(Q["queue_stats"], {"now": self.now()}).fetchall()
        return queries.queue_stats(rows)

    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        with self._reading() as conn:
            rows = conn.execute(Q["get_jobs"], {"ids": _json(job_ids)}).fetchall()
        return {row["id"]: sqlite_rows.job(row) for row in rows}

    def job_links(self, job_ids: Sequence[str]) -> dict[str, JobLinks]:
        with self._reading() as conn:
            return sqlite_after.links(conn, job_ids)

    def _apply_changes(self, changes: Sequence[rules.Change]) -> Applied:
        # Under the write lock nothing else writes, so the guards are checked with one read
        # first and each group of changes alike is one executemany. The commit itself
        # wakes idle workers.
        try:
            with self._writing() as conn:
                ids = _json([change.job_id for change in changes])
                found = {
                    row["id"]: (row["state"], row["last_attempt"])
                    for row in conn.execute(Q["get_guards"], {"ids": ids})
                }
                for change in changes:
                    if found.get(change.job_id) != (change.from_state, change.from_attempt):
                        return Applied(moved=change.job_id)
                now = self.now()
                for group in alike(changes):
                    sql, rows = row_statement(group, SQLITE, {"now": now})
                    if conn.executemany(sql, rows).rowcount != len(group):
                        raise Moved(group[0].job_id)  # unreachable under the lock
                return Applied(brought_back=sqlite_after.after_changes(conn, changes, now))
        except Moved as moved:
            return Applied(moved=moved.job_id)

    def purge_jobs(
        self, states: Sequence[JobState], older_than: float | None = None, limit: int | None = None
    ) -> int:
        cutoff = self.now() - (older_than or 0.0)
        if limit is not None:
            gone = 0
            for state in states:
                params = {"state": str(state), "cutoff": cutoff, "limit": limit - gone}
                with self._writing() as conn:
                    gone += conn.execute(Q["purge_jobs_batch"], params).rowcount
            return gone
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
            if not rows:  # none taken: perhaps a limit is in force (queuectl.limits)
                rows = self._claim_limited(conn, params)
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
                row = conn.execute(Q["finish_job"], params).fetchone()
                if row is None:
                    return False
                conn.execute(Q["finish_attempt"], params)
                sqlite_after.after_finish(conn, _ended([row]), params["now"])
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
                    row = conn.execute(Q["finish_job"], params).fetchone()
                    if row is not None:
                        conn.execute(Q["finish_attempt"], params)
                        sqlite_after.after_finish(conn, _ended([row]), now)
                    applied.append(row is not None)
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

    def next_due_in(self, queues: Sequence[str] | None) -> float | None:
        params = {"queues": _json(queues), "now": self.now()}
        with self._reading() as conn:
            due_in = conn.execute(Q["next_due_in"], params).fetchone()[0]
        return None if due_in is None else float(due_in)

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


def _ended(rows: Sequence[Any]) -> list[tuple[str, JobState]]:
    """The finished rows (id, state, dependents) whose end the jobs after them must see."""
    return [
        (row["id"], JobState(row["state"]))
        for row in rows
        if row["dependents"] and JobState(row["state"]) in FINAL_STATES
    ]
