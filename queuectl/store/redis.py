"""The Redis backend: every job in a hash, indexes in sorted sets, changes in Lua scripts.

Each store operation is one Lua script (redis_scripts/, key layout in common.lua), so it is
atomic on the server: no other client sees half of it, and two claims never take the same
job. Every time is the server's clock (TIME). The decisions about jobs are
queuectl.rules': a script only stores, and applies a decided change while the job is
still as the decision saw it (state, worker, attempt), saying whether it applied.

Idle workers subscribe to a channel every change that makes a job claimable (or gives a
worker orders) publishes on (redis_waiter.py). This half of RedisStore keeps the jobs'
life cycle, the workers and config; its client, schema mark, durability and clock are
redis_base.py's, the observability reads redis_observe.py's.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from queuectl import rules, workflow
from queuectl.errors import DuplicateJob, StoreError, StoreUnavailable, UniqueKeyTaken
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
from queuectl.store import redis_changes
from queuectl.store import redis_rows as rows
from queuectl.store.guarded import Applied, Finishing, GuardedStore, KeyClash
from queuectl.store.paging import id_prefix_range
from queuectl.store.redis_limits import RedisLimits
from queuectl.store.redis_observe import RedisObserve
from queuectl.store.redis_records import RedisRecords
from queuectl.store.redis_rows import optional

if TYPE_CHECKING:
    from queuectl.store.redis_waiter import RedisChangeWaiter

MAX_DECISIONS = 10  # stop requests decided again when workers keep changing meanwhile
MAX_LOST_CLAIMS = 5  # claims whose answer was lost, remembered to get their jobs back
LARGE_OUTPUT_BYTES = 64 << 10  # see _wire


class LostClaims:
    """The tokens of claims whose answer was lost, by key prefix and worker, for the whole
    process: a worker claims on more than one connection (claimer.py), and the server keeps
    only each worker's last claim, so whichever connection claims next must hand the tokens
    over, or a successful claim would overwrite the lost one and its jobs wait out their
    lease unrun."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], list[str]] = {}

    def get(self, prefix: str, worker_id: str) -> list[str]:
        with self._lock:
            return list(self._tokens.get((prefix, worker_id), ()))

    def add(self, prefix: str, worker_id: str, token: str) -> None:
        with self._lock:
            kept = self._tokens.get((prefix, worker_id), [])
            self._tokens[(prefix, worker_id)] = [*kept[-(MAX_LOST_CLAIMS - 1) :], token]

    def answered(self, prefix: str, worker_id: str, sent: list[str]) -> None:
        """A claim that carried `sent` was answered: those jobs are back. Tokens lost
        meanwhile on another connection stay."""
        with self._lock:
            left = [t for t in self._tokens.get((prefix, worker_id), ()) if t not in sent]
            if left:
                self._tokens[(prefix, worker_id)] = left
            else:
                self._tokens.pop((prefix, worker_id), None)


LOST_CLAIMS = LostClaims()


class RedisStore(GuardedStore, RedisObserve, RedisRecords, RedisLimits):
    """`Store` on one Redis database and key prefix. Safe to share between threads (the
    client keeps a pool of connections)."""

    backend = "redis"

    # -- jobs: producers and operators -----------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[NewJob], default_max_retries: int) -> list[str]:
        if not jobs:
            return []
        specs = [
            (
                job.id,
                job.command,
                job.queue,
                str(job.priority),
                optional(job.max_retries),
                optional(job.timeout),
                optional(None if job.run_at is None else float(job.run_at)),
                repr(float(job.delay)),
                "1" if job.keep_daemons else "0",
                job.cwd or "",
                "" if job.env is None else json.dumps(job.env),
                job.after_mode.value if job.after else "",
                ",".join(job.after),
                job.concurrency_key or "",
                job.unique_key or "",
            )
            for job in jobs
        ]
        workflow.check_graph(jobs)
        answer = self._scripts.run("enqueue", [default_max_retries, msgspec.json.encode(specs)])
        if answer[0] == b"duplicate":
            raise DuplicateJob(answer[1].decode())
        if answer[0] == b"unique":
            job_id, key, holder = (part.decode() for part in answer[1:4])
            raise UniqueKeyTaken(job_id, key, holder)
        if answer[0] == b"unknown":
            raise workflow.unknown_parent(answer[1].decode(), answer[2].decode())
        if answer[0] == b"never":
            state = JobState(answer[3].decode())
            raise workflow.never_runs(answer[1].decode(), answer[2].decode(), state)
        return [job.id for job in jobs]

    def get_job(self, job_id: str) -> Job | None:
        key = self._key(f"job:{job_id}")
        found = self._scripts.call(lambda: self._client.hgetall(key), read=True)
        return rows.job(found) if found else None

    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:

        def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=True)
            for job_id in job_ids:
                pipe.hgetall(self._key(f"job:{job_id}"))
            return pipe.execute()

        found = self._scripts.call(read, read=True)
        return {job_id: rows.job(f) for job_id, f in zip(job_ids, found, strict=True) if f}

    def _apply_changes(self, changes: Sequence[rules.Change]) -> Applied:
        answer = self._scripts.run("apply", redis_changes.apply_args(changes))
        if answer[0] == b"unique":
            raise KeyClash()
        if answer[0] != b"ok":
            return Applied(moved=answer[1].decode())
        return Applied(brought_back=tuple(item.decode() for item in answer[1:]))

    def unique_holders(self, keys: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        key = self._key("unique")
        found = self._scripts.call(lambda: self._client.hmget(key, wanted), read=True)
        return {k: _text(v) for k, v in zip(wanted, found, strict=True) if v is not None}

    def job_links(self, job_ids: Sequence[str]) -> dict[str, JobLinks]:
        ids = list(dict.fromkeys(job_ids))

        def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=True)
            for job_id in ids:
                pipe.smembers(self._key(f"parents:{job_id}"))
                pipe.smembers(self._key(f"children:{job_id}"))
            return pipe.execute()

        found = self._scripts.call(read, read=True)
        return {
            job_id: JobLinks(
                tuple(sorted(p.decode() for p in found[2 * i])),
                tuple(sorted(c.decode() for c in found[2 * i + 1])),
            )
            for i, job_id in enumerate(ids)
        }

    def purge_jobs(
        self, states: Sequence[JobState], older_than: float | None = None, limit: int | None = None
    ) -> int:
        return redis_changes.purge(self._scripts, states, older_than, limit)

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        query = JobQuery(states=() if state is None else (state,), queue=queue)
        return self.query_jobs(query, None, limit)

    def query_jobs(self, query: JobQuery, after_seq: int | None, limit: int | None) -> list[Job]:
        low = high = ""
        if query.id_prefix is not None:
            low, high = id_prefix_range(query.id_prefix)
        args = [
            "1" if query.order == "oldest" else "0",
            optional(after_seq),
            optional(limit),
            "" if query.queue is None else "=" + query.queue,
            low,
            high,
            query.search or "",
            *(str(state) for state in query.states),
        ]
        return [rows.job(flat) for flat in self._scripts.run("query", args, read=True)]

    def list_attempts(self, job_id: str) -> list[Attempt]:
        job = self.get_job(job_id)
        if job is None:
            return []

        def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for n in range(1, job.last_attempt + 1):
                pipe.hgetall(self._key(f"att:{job_id}:{n}"))
            return pipe.execute()

        return [rows.attempt(f) for f in self._scripts.call(read, read=True) if f]

    def count_jobs(self, queue: str | None = None) -> QueueCounts:
        flat = self._scripts.run("counts", [queue or ""], read=True)
        by_state = dict.fromkeys(JobState, 0)
        extra = {SCHEDULED: 0, BLOCKED: 0}
        for i in range(0, len(flat), 2):
            name, n = flat[i].decode(), int(flat[i + 1])
            if name in extra:
                extra[name] = n
            else:
                by_state[JobState(name)] = n
        return QueueCounts(by_state=by_state, scheduled=extra[SCHEDULED], blocked=extra[BLOCKED])

    def queue_stats(self) -> list[QueueStats]:
        stats = []
        for row in self._scripts.run("stats", read=True):
            by_state = {JobState(row[i].decode()): int(row[i + 1]) for i in range(2, len(row), 2)}
            oldest = float(row[1]) if row[1] else None
            stats.append(QueueStats(row[0].decode(), by_state, oldest))
        return stats

    # -- jobs: workers ------------------------------------------------------------------

    def claim_jobs(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0 or (queues is not None and not queues):
            return []
        token = secrets.token_hex(8)
        lost = LOST_CLAIMS.get(self.prefix, worker_id)
        claimer = f"{worker_id}/{os.getpid()}"  # a worker's processes share its id
        args = [worker_id, repr(float(lease_seconds)), limit, token, " ".join(lost), claimer]
        try:
            found = self._scripts.run("claim", [*args, *(queues or ())])
        except StoreUnavailable:
            # The claim may have been applied and only its answer lost (a server that
            # shuts down drops pending replies): the next claim asks for its jobs back.
            LOST_CLAIMS.add(self.prefix, worker_id, token)
            raise
        LOST_CLAIMS.answered(self.prefix, worker_id, lost)
        return [rows.job(flat) for flat in found]

    def heartbeat(
        self, worker_id: str, lease_seconds: float, held: Sequence[str] = ()
    ) -> WorkerOrders:
        args = [worker_id, repr(float(lease_seconds)), *held]
        stop, renewed, cancel = self._scripts.run("heartbeat", args)
        return WorkerOrders(
            stop=StopMode(stop.decode()) if stop else None,
            cancel=frozenset(i.decode() for i in cancel),
            renewed=frozenset(i.decode() for i in renewed),
        )

    def _apply_finish(self, guard: rules.Held, finish: rules.Finish, result: RunResult) -> bool:
        return self._apply_finishes([(guard, finish, result)])[0]

    def _apply_finishes(self, finishes: Sequence[Finishing]) -> list[bool]:
        """One script call for all (each guarded and applied on its own inside it)."""
        if not finishes:
            return []
        packed = msgspec.msgpack.encode([_finish_fields(*f) for f in finishes])
        outputs = [_wire(o) for *_, result in finishes for o in (result.stdout, result.stderr)]
        return [bool(applied) for applied in self._scripts.run("finish", [packed, *outputs])]

    def expired_jobs(self, limit: int = 100) -> list[Job]:
        return [rows.job(flat) for flat in self._scripts.run("expired", [limit], read=True)]

    def has_unfinished_jobs(self, queues: Sequence[str] | None) -> bool:
        if queues is not None and not queues:
            return False
        return bool(self._scripts.run("unfinished", list(queues or ()), read=True))

    def next_due_in(self, queues: Sequence[str] | None) -> float | None:
        if queues is not None and not queues:
            return None
        due_in = self._scripts.run("next_due", list(queues or ()), read=True)
        return None if due_in is None else float(due_in)

    def change_waiter(self) -> RedisChangeWaiter:
        from queuectl.store.redis_waiter import RedisChangeWaiter

        return RedisChangeWaiter(self._address, self._key("wake"))

    # -- config -------------------------------------------------------------------------

    def get_config(self) -> dict[str, str]:
        key = self._key("config")
        found: dict[Any, Any] = self._scripts.call(lambda: self._client.hgetall(key), read=True)
        return {k.decode(): v.decode() for k, v in found.items()}

    def set_config(self, key: str, value: str) -> None:
        self._scripts.call(lambda: self._client.hset(self._key("config"), key, value))

    def reset_config(self, key: str | None = None) -> None:
        config = self._key("config")
        if key is None:
            self._scripts.call(lambda: self._client.delete(config))
        else:
            self._scripts.call(lambda: self._client.hdel(config, key))

    # -- paused queues ------------------------------------------------------------------

    def pause_queues(self, queues: Sequence[str]) -> None:
        if queues:
            self._scripts.call(lambda: self._client.sadd(self._key("paused"), *queues))

    def resume_queues(self, queues: Sequence[str] | None) -> None:
        def resume() -> None:
            pipe = self._client.pipeline(transaction=True)
            if queues is None:
                pipe.delete(self._key("paused"))
            elif queues:
                pipe.srem(self._key("paused"), *queues)
            pipe.publish(self._key("wake"), "resume")  # their jobs are claimable again
            pipe.execute()

        self._scripts.call(resume)

    def paused_queues(self) -> list[str]:
        key = self._key("paused")
        found: set[Any] = self._scripts.call(lambda: self._client.smembers(key), read=True)
        return sorted(q.decode() for q in found)

    # -- workers ------------------------------------------------------------------------

    def register_worker(self, worker: WorkerRegistration) -> None:
        queues = ",".join(worker.queues)
        args = [worker.id, worker.host, worker.pid, queues, worker.slots]
        self._scripts.run("register_worker", args)

    def unregister_worker(self, worker_id: str) -> None:
        self._scripts.run("unregister_worker", [worker_id])

    def list_workers(self, alive_within: float | None = None) -> list[WorkerInfo]:
        found = self._scripts.run("list_workers", [optional(alive_within)], read=True)
        return [rows.worker(flat, running) for flat, running in found]

    def request_worker_stop(self, mode: StopMode, worker_ids: Sequence[str] | None = None) -> int:
        for _ in range(MAX_DECISIONS):
            workers = self.list_workers()
            if worker_ids is not None:
                wanted = set(worker_ids)
                workers = [w for w in workers if w.id in wanted]
            args: list[str] = []
            for worker in workers:
                current = worker.stop_requested
                decided = rules.stop_request(current, mode)
                args += [worker.id, optional(current and str(current)), str(decided)]
            asked = int(self._scripts.run("stop_workers", args))
            if asked >= 0:
                return asked
        raise StoreError("workers kept changing while being asked to stop; try again")

    def prune_workers(self, dead_for: float) -> int:
        return int(self._scripts.run("prune_workers", [repr(float(dead_for))]))


def _wire(output: bytes) -> bytes | memoryview:
    """An output as a script argument. A large one goes as a memoryview: redis-py then
    sends it as it is, where it would otherwise copy it into one buffer with the rest of
    the command (hiredis), a copy of up to 16 MiB per stream."""
    return memoryview(output) if len(output) > LARGE_OUTPUT_BYTES else bytes(output)


def _finish_fields(guard: rules.Held, finish: rules.Finish, result: RunResult) -> list[str]:
    """One finish as finish.lua takes it, but for its outputs: strings, as script
    arguments would be."""
    return [
        guard.job_id,
        guard.worker_id,
        str(guard.attempt),
        optional(guard.cancel_requested),
        "1" if guard.lease_expired else "0",
        str(finish.state),
        optional(finish.run_after),
        "1" if finish.counted else "0",
        "1" if finish.records_result else "0",
        optional(result.exit_code),
        result.error or "",
        str(max(result.stdout_bytes, len(result.stdout))),
        str(max(result.stderr_bytes, len(result.stderr))),
    ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
