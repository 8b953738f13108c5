"""The reference backend: `memory://NAME`, a store in this process's memory.

For tests and experiments, never for work that matters: nothing survives the process,
and other processes cannot see it. It is the rules written as plain Python: what the SQL
and Lua of the other backends do in their databases, this does with queuectl.rules'
own functions (claimable, claim_order, lease_expired, renews, the operators' changes and
the finishes), and it passes the same conformance suite, which keeps the Python
statement of the rules and the three databases in step.

Every call holds the database's lock, so each is atomic, as one transaction is. This
part keeps the jobs' life cycle; the database, clock and life cycle are memory_base.py's,
the workers, config and paused queues memory_workers.py's, the observability reads
memory_observe.py's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from msgspec.structs import replace

from queuectl import rules
from queuectl.errors import DuplicateJob
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
    WorkerOrders,
)
from queuectl.store import memory_after
from queuectl.store.guarded import Applied, GuardedStore
from queuectl.store.memory_data import MemoryWaiter, is_open_run
from queuectl.store.memory_limits import MemoryLimits
from queuectl.store.memory_observe import MemoryObserve
from queuectl.store.memory_records import MemoryRecords
from queuectl.store.memory_workers import MemoryWorkers

PENDING, PROCESSING = JobState.PENDING, JobState.PROCESSING


class MemoryStore(GuardedStore, MemoryWorkers, MemoryObserve, MemoryRecords, MemoryLimits):
    """`Store` on a memory database shared by every store of the same URL in the process."""

    backend = "memory"
    process_local = True  # open_store(shared=True), the command line, refuses it

    # -- jobs: producers and readers ------------------------------------------------------

    def enqueue_jobs(self, jobs: Sequence[NewJob], default_max_retries: int) -> list[str]:
        with self._db.lock:
            now = self.now()
            seen: set[str] = set()
            for new in jobs:
                if new.id in seen or new.id in self._db.jobs:
                    raise DuplicateJob(new.id)
                seen.add(new.id)
            made = [_job(new, default_max_retries, now, next(self._db.seq)) for new in jobs]
            for job in memory_after.add_jobs(self._db, jobs, made):
                self._db.jobs[job.id] = job
            for new in jobs:
                self._db.own_max_retries[new.id] = new.max_retries
            self._db.wake()
        return [job.id for job in jobs]

    def get_job(self, job_id: str) -> Job | None:
        with self._db.lock:
            return self._db.jobs.get(job_id)

    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        with self._db.lock:
            return {i: self._db.jobs[i] for i in job_ids if i in self._db.jobs}

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        query = JobQuery(states=() if state is None else (state,), queue=queue)
        return self.query_jobs(query, None, limit)

    def query_jobs(self, query: JobQuery, after_seq: int | None, limit: int | None) -> list[Job]:
        oldest = query.order == "oldest"
        with self._db.lock:
            now = self.now()
            jobs = self._db.jobs.values()
            ordered = list(jobs) if oldest else list(reversed(jobs))
        found = []
        for job in ordered:
            if after_seq is not None and (job.seq <= after_seq if oldest else job.seq >= after_seq):
                continue
            if _matches(job, query, now):
                found.append(job)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def job_links(self, job_ids: Sequence[str]) -> dict[str, JobLinks]:
        with self._db.lock:
            return memory_after.links(self._db, job_ids)

    def list_attempts(self, job_id: str) -> list[Attempt]:
        with self._db.lock:
            return list(self._db.attempts.get(job_id, []))

    def count_jobs(self, queue: str | None = None) -> QueueCounts:
        with self._db.lock:
            now = self.now()
            jobs = [j for j in self._db.jobs.values() if queue is None or j.queue == queue]
        by_state = dict.fromkeys(JobState, 0) | Counter(job.state for job in jobs)
        scheduled = sum(1 for job in jobs if _in_state(job, SCHEDULED, now))
        blocked = sum(1 for job in jobs if job.blocked)
        return QueueCounts(by_state=by_state, scheduled=scheduled, blocked=blocked)

    def queue_stats(self) -> list[QueueStats]:
        with self._db.lock:
            now = self.now()
            jobs = list(self._db.jobs.values())
        stats: dict[str, QueueStats] = {}
        for job in sorted(jobs, key=lambda j: j.queue):
            seen = stats.setdefault(job.queue, QueueStats(queue=job.queue, by_state={}))
            seen.by_state[job.state] = seen.by_state.get(job.state, 0) + 1
            due = job.state is PENDING and not job.blocked and job.run_at <= now
            if due and (seen.oldest_due_at is None or job.run_at < seen.oldest_due_at):
                stats[job.queue] = replace(seen, oldest_due_at=job.run_at)
        return list(stats.values())

    # -- jobs: guarded changes --------------------------------------------------------------

    def _apply_changes(self, changes: Sequence[rules.Change]) -> Applied:
        with self._db.lock:
            for change in changes:
                job = self._db.jobs.get(change.job_id)
                if (
                    job is None
                    or job.state is not change.from_state
                    or job.last_attempt != change.from_attempt
                ):
                    return Applied(moved=change.job_id)
            now = self.now()
            for change in changes:
                self._apply_change(change, now)
            moved = [(c.job_id, c.from_state, c.state) for c in changes if not c.delete]
            ended = [(i, after) for i, before, after in moved if _ends(before, after)]
            memory_after.release(self._db, ended, now, self._move)
            reopened = [i for i, before, after in moved if _ends(after, before)]
            back = memory_after.reopen(self._db, reopened, now, self._move)
            if any(change.wakes_workers for change in changes) or ended or back:
                self._db.wake()
        return Applied(brought_back=tuple(back))

    def _apply_change(self, change: rules.Change, now: float) -> None:
        old = self._db.jobs[change.job_id]
        if change.delete:
            self._delete(old.id)
            return
        values: dict[str, object] = {"updated_at": now}
        for field, value in change.sets.items():
            if field is rules.Field.OWN_MAX_RETRIES:
                self._db.own_max_retries[old.id] = value  # type: ignore[assignment]
            elif isinstance(value, rules.StoreNow):
                values[field] = now
            elif isinstance(value, rules.RetryBudget):
                own = self._db.own_max_retries.get(old.id)
                values[field] = rules.max_retries_for(own, value.default)
            else:
                values[field] = value
        self._move(old, replace(old, **values), now)

    def _move(self, old: Job, new: Job, now: float) -> None:
        self._db.jobs[new.id] = new
        self._db.moved(old, new, now)

    def _delete(self, job_id: str) -> None:
        del self._db.jobs[job_id]
        memory_after.forget(self._db, job_id)
        self._db.own_max_retries.pop(job_id, None)
        self._db.attempts.pop(job_id, None)

    def purge_jobs(
        self, states: Sequence[JobState], older_than: float | None = None, limit: int | None = None
    ) -> int:
        purgeable = set(states) & rules.PURGEABLE
        with self._db.lock:
            cutoff = self.now() - (older_than or 0.0)
            found = [
                job
                for job in self._db.jobs.values()
                if job.state in purgeable and job.updated_at <= cutoff
            ]
            found.sort(key=lambda job: job.updated_at)
            gone = [job.id for job in found[:limit]]
            for job_id in gone:
                self._delete(job_id)
        return len(gone)

    # -- jobs: workers ------------------------------------------------------------------

    def claim_jobs(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        with self._db.lock:
            now = self.now()
            if "*" in self._db.paused:
                return []
            due = [
                job
                for job in self._db.jobs.values()
                if rules.claimable(job, now)
                and (queues is None or job.queue in queues)
                and job.queue not in self._db.paused
            ]
            claimed: list[Job] = []
            plan = self._claim_plan(now)
            for job in sorted(due, key=rules.claim_order):
                if len(claimed) >= limit:
                    break
                if not plan.admit(job.queue, job.concurrency_key):
                    continue
                taken = replace(
                    job,
                    state=PROCESSING,
                    attempts=job.attempts + 1,
                    last_attempt=job.last_attempt + 1,
                    worker_id=worker_id,
                    lease_expires_at=now + lease_seconds,
                    updated_at=now,
                    cancel_requested=False,
                )
                self._move(job, taken, now)
                record = Attempt(job.id, taken.last_attempt, worker_id, started_at=now)
                self._db.attempts.setdefault(job.id, []).append(record)
                claimed.append(taken)
            self._claim_started(plan)
        return claimed

    def heartbeat(
        self, worker_id: str, lease_seconds: float, held: Sequence[str] = ()
    ) -> WorkerOrders:
        holding = set(held)
        with self._db.lock:
            now = self.now()
            worker = self._db.workers.get(worker_id)
            if worker is not None:
                self._db.workers[worker_id] = replace(worker, heartbeat_at=now)
            renewed, cancel = set(), set()
            for job in self._mine(worker_id):
                if rules.renews(job, worker_id, holding):
                    self._db.jobs[job.id] = replace(job, lease_expires_at=now + lease_seconds)
                    renewed.add(job.id)
                if job.cancel_requested:
                    cancel.add(job.id)
        stop = worker.stop_requested if worker is not None else None
        return WorkerOrders(stop=stop, cancel=frozenset(cancel), renewed=frozenset(renewed))

    def _apply_finish(self, guard: rules.Held, finish: rules.Finish, result: RunResult) -> bool:
        with self._db.lock:
            now = self.now()
            job = self._db.jobs.get(guard.job_id)
            if job is None or not _holds(guard, job, now):
                return False
            ended = replace(
                job,
                state=finish.state,
                attempts=job.attempts - (0 if finish.counted else 1),
                run_at=job.run_at if finish.run_after is None else now + finish.run_after,
                updated_at=now,
                worker_id=None,
                lease_expires_at=None,
                cancel_requested=False,
                exit_code=result.exit_code if finish.records_result else job.exit_code,
                last_error=result.error if finish.records_result else job.last_error,
            )
            self._close_attempt(guard, result, now)
            self._move(job, ended, now)
            if finish.state in FINAL_STATES:
                memory_after.release(self._db, [(job.id, finish.state)], now, self._move)
            if finish.state in rules.CLAIMABLE or job.dependents:
                self._db.wake()
        return True

    def _close_attempt(self, guard: rules.Held, result: RunResult, now: float) -> None:
        records = self._db.attempts.get(guard.job_id, [])
        for i, run in enumerate(records):
            if is_open_run(run, guard.attempt, guard.worker_id):
                records[i] = replace(
                    run,
                    finished_at=now,
                    exit_code=result.exit_code,
                    error=result.error,
                    stdout=bytes(result.stdout),
                    stderr=bytes(result.stderr),
                    stdout_bytes=max(result.stdout_bytes, len(result.stdout)),
                    stderr_bytes=max(result.stderr_bytes, len(result.stderr)),
                )

    def expired_jobs(self, limit: int = 100) -> list[Job]:
        with self._db.lock:
            now = self.now()
            expired = [job for job in self._db.jobs.values() if rules.lease_expired(job, now)]
        return sorted(expired, key=lambda job: job.lease_expires_at or 0.0)[:limit]

    def has_unfinished_jobs(self, queues: Sequence[str] | None) -> bool:
        with self._db.lock:
            now = self.now()
            return any(
                (queues is None or job.queue in queues)
                and (
                    job.state in (PROCESSING, JobState.FAILED)
                    or (job.state is PENDING and not job.blocked and job.run_at <= now)
                )
                for job in self._db.jobs.values()
            )

    def next_due_in(self, queues: Sequence[str] | None) -> float | None:
        with self._db.lock:
            now = self.now()
            ahead = [
                job.run_at - now
                for job in self._db.jobs.values()
                if (queues is None or job.queue in queues)
                and job.state in (PENDING, JobState.FAILED)
                and not job.blocked
                and job.run_at > now
            ]
            ahead += self._rate_waits(queues, now)
        return min(ahead, default=None)

    def change_waiter(self) -> MemoryWaiter:
        return MemoryWaiter(self._db)


def _job(new: NewJob, default_max_retries: int, now: float, seq: int) -> Job:
    """A new job as enqueue_jobs stores it: pending, due at run_at or now + delay."""
    return Job(
        id=new.id,
        command=new.command,
        queue=new.queue,
        state=PENDING,
        priority=new.priority,
        attempts=0,
        max_retries=rules.max_retries_for(new.max_retries, default_max_retries),
        timeout=new.timeout,
        run_at=now + new.delay if new.run_at is None else new.run_at,
        created_at=now,
        updated_at=now,
        keep_daemons=new.keep_daemons,
        seq=seq,
        cwd=new.cwd,
        env=dict(new.env) if new.env else None,
        concurrency_key=new.concurrency_key,
    )


def _matches(job: Job, query: JobQuery, now: float) -> bool:
    """Whether a listing's filters keep the job (query_jobs)."""
    if query.states and not any(_in_state(job, state, now) for state in query.states):
        return False
    return (
        (query.queue is None or job.queue == query.queue)
        and (query.id_prefix is None or job.id.startswith(query.id_prefix))
        and (query.search is None or query.search in job.command)
    )


def _in_state(job: Job, state: str, now: float) -> bool:
    if state == SCHEDULED:
        return job.state is PENDING and not job.blocked and job.run_at > now
    if state == BLOCKED:
        return job.blocked
    return job.state == state


def _ends(before: JobState, after: JobState) -> bool:
    """Whether a change from `before` to `after` ends the job (else, reversed: reopens)."""
    return after in FINAL_STATES and before not in FINAL_STATES


def _holds(guard: rules.Held, job: Job, now: float) -> bool:
    """Whether a finish's guard still holds on the job (queuectl.rules.Held)."""
    return (
        job.state is PROCESSING
        and job.worker_id == guard.worker_id
        and job.last_attempt == guard.attempt
        and (guard.cancel_requested is None or job.cancel_requested == guard.cancel_requested)
        and (not guard.lease_expired or rules.lease_expired(job, now))
    )
