"""Every change of a job's life after its enqueue, decided once for every backend.

A backend keeps only reads and a few guarded writes; this layer does the rest:

- Operators (update, cancel, requeue, DLQ retry, delete): read the jobs, let
  queuectl.rules decide a `rules.Change` for each (a rule that refuses raises), and hand
  them all to the backend's `_apply_changes`, which writes them all or none, each guarded
  by the state and last_attempt it was decided from. When a job moved meanwhile nothing is
  written, and the jobs are read and decided again.
- Finishes (complete, fail, reap, cancel a running job, release): queuectl.rules decides
  how the attempt ends from the job as the worker holds it (no read of the store: a finish
  stays one round trip); the backend's `_apply_finish` applies it guarded by `rules.Held`,
  in one atomic step that also closes the attempt record. When the guard fails only
  because a cancel was asked for meanwhile, the job is read again and decided once more;
  otherwise the job moved on and the write is void.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import NamedTuple

from msgspec.structs import replace

from queuectl import rules
from queuectl.errors import JobNotFound, StoreError
from queuectl.models import (
    Interrupt,
    Job,
    JobChanges,
    JobQuery,
    JobState,
    NewJob,
    Requeued,
    RunResult,
)

MAX_DECISIONS = 10  # operators' changes decided again when jobs keep moving meanwhile
RETRY_ALL_PAGE = 1000  # dead jobs read and retried per guarded write by a DLQ retry of all

RELEASED = RunResult(exit_code=None, error=str(Interrupt.RELEASED))

Finishing = tuple[rules.Held, rules.Finish, RunResult]
"""A decided finish: the guard it holds under, the decision, the result to record."""


class Applied(NamedTuple):
    """What `_apply_changes` did: `moved` names a job that moved meanwhile (then nothing
    changed); else `brought_back` lists the jobs that came back with the jobs put back to
    pending (queuectl.workflow)."""

    moved: str | None = None
    brought_back: tuple[str, ...] = ()


class KeyClash(Exception):
    """Raised by a backend's `_apply_changes` when its store refused a change because
    another job holds the unique key it would take (a race the read before missed):
    nothing was written; the jobs are read and decided again."""


class GuardedStore(ABC):
    """The Store methods that change jobs after their enqueue, on top of the backend's
    boundary: the abstract methods below (and `get_job`/`query_jobs` of the Store)."""

    # -- the backend's boundary -----------------------------------------------------------

    @abstractmethod
    def get_job(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def query_jobs(
        self, query: JobQuery, after_seq: int | None, limit: int | None
    ) -> list[Job]: ...

    @abstractmethod
    def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs with these ids that exist, by id (one read)."""

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        return self._read_jobs(job_ids)

    @abstractmethod
    def unique_holders(self, keys: Sequence[str]) -> dict[str, str]:
        """For each key held by a waiting or running job: that job's id (one read)."""

    def _check_unique_keys(self, jobs: dict[str, Job], decided: list[rules.Change]) -> None:
        """Refuse (all or none) a change that would make a job hold its unique key while
        another job holds it, or two jobs of the same change hold the same key."""
        taking = [
            jobs[change.job_id]
            for change in decided
            if rules.takes_unique_key(jobs[change.job_id], change)
        ]
        if not taking:
            return
        holders = self.unique_holders(list({job.unique_key or "" for job in taking}))
        for job in taking:
            holder = holders.setdefault(job.unique_key or "", job.id)
            if holder != job.id:
                raise rules.requeue_clash(job, holder)

    @abstractmethod
    def _apply_changes(self, changes: Sequence[rules.Change]) -> Applied:
        """Apply every change in one transaction, all or none: each only while its job is
        still in `from_state` with `from_attempt` as its last_attempt, setting updated_at
        to the store's now as well (or deleting it with its attempts); in the same
        transaction, release or cancel the jobs after a job that ended, and bring back
        those after a job put back to pending (queuectl.workflow); then wake idle
        workers when a change `wakes_workers` or a job was released. Returns
        `Applied(moved=id)` when a job moved meanwhile (then nothing changed)."""

    @abstractmethod
    def _apply_finish(self, guard: rules.Held, finish: rules.Finish, result: RunResult) -> bool:
        """Apply `finish` to the job and close its attempt record with `result`, in one
        atomic step, only while `guard` holds; whether it applied (if not, nothing
        changed). Raises StoreRefused when the store refuses the result itself (its output
        too large, a constraint), StoreUnavailable/StoreError as any call: the worker
        tells them apart (a refused result is written again degraded, never as is)."""

    def _apply_finishes(self, finishes: Sequence[Finishing]) -> list[bool]:
        """`_apply_finish` for each, in order; a backend that can applies them in one
        transaction (one round trip), each guarded on its own."""
        return [self._apply_finish(guard, finish, result) for guard, finish, result in finishes]

    # -- operators --------------------------------------------------------------------------

    def _decide_and_apply(
        self,
        job_ids: Sequence[str],
        decide: Callable[[Job], rules.Change | None],
        strict: bool = True,
    ) -> tuple[list[rules.Change], tuple[str, ...]]:
        """Read the jobs, let `decide(job)` say what to write (it raises when a rule
        refuses; None leaves the job as it is), apply all guarded, all or none; read and
        decide again while one moved meanwhile. `strict`: a missing id raises JobNotFound
        (else it is skipped). Returns the changes applied and the jobs brought back."""
        ids = list(dict.fromkeys(job_ids))
        for _ in range(MAX_DECISIONS):
            jobs = self._read_jobs(ids)
            decided = []
            for job_id in ids:
                job = jobs.get(job_id)
                if job is None:
                    if strict:
                        raise JobNotFound(f"no job with id {job_id!r}")
                    continue
                change = decide(job)
                if change is not None:
                    decided.append(change)
            if not decided:
                return decided, ()
            self._check_unique_keys(jobs, decided)
            try:
                applied = self._apply_changes(decided)
            except KeyClash:
                continue
            if applied.moved is None:
                return decided, applied.brought_back
        raise StoreError("jobs kept changing while being changed; try again")

    def update_job(self, job_id: str, changes: JobChanges) -> Job:
        self._decide_and_apply([job_id], lambda job: rules.update(job, changes))[0]
        updated = self.get_job(job_id)
        if updated is None:  # deleted right after the edit
            raise JobNotFound(f"no job with id {job_id!r}")
        return updated

    def replace_waiting_job(
        self, job_id: str, new: NewJob, run_at: float | None, default_max_retries: int
    ) -> Job | None:
        when: float | rules.StoreNow = rules.NOW if run_at is None else run_at

        def decide(job: Job) -> rules.Change | None:
            if job.state not in rules.CLAIMABLE or job.unique_key != new.unique_key:
                return None  # running (answered as is) or no longer the key's holder
            return rules.replace_waiting(job, new, when, default_max_retries)

        self._decide_and_apply([job_id], decide, strict=False)
        job = self.get_job(job_id)
        if job is None or job.unique_key != new.unique_key:
            return None
        return job if job.state in rules.HOLDS_UNIQUE_KEY else None

    def cancel_jobs(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        changes, _ = self._decide_and_apply(job_ids, rules.cancel)
        return {change.job_id: change.state for change in changes}

    def retry_dead_jobs(self, job_ids: Sequence[str] | None, default_max_retries: int) -> Requeued:
        if job_ids is not None:
            retried, back = self._decide_and_apply(
                job_ids, lambda job: rules.dlq_retry(job, default_max_retries)
            )
            return Requeued([change.job_id for change in retried], list(back))
        # Every job dead now, a page at a time; one that moved on meanwhile is left.
        moved: list[str] = []
        brought_back: list[str] = []
        dead = JobQuery(states=(JobState.DEAD,), order="oldest")
        after: int | None = None
        while page := self.query_jobs(dead, after, RETRY_ALL_PAGE):
            after = page[-1].seq

            def still_dead(job: Job) -> rules.Change | None:
                alive = job.state not in rules.RETRYABLE_FROM_DLQ
                return None if alive else rules.dlq_retry(job, default_max_retries)

            ids = [job.id for job in page]
            retried, back = self._decide_and_apply(ids, still_dead, strict=False)
            moved += [change.job_id for change in retried]
            brought_back += back
        return Requeued(moved, brought_back)

    def requeue_jobs(self, job_ids: Sequence[str], default_max_retries: int) -> Requeued:
        requeued, back = self._decide_and_apply(
            job_ids, lambda job: rules.requeue(job, default_max_retries)
        )
        return Requeued([change.job_id for change in requeued], list(back))

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        return len(self._decide_and_apply(job_ids, rules.delete)[0])

    # -- finishes ---------------------------------------------------------------------------

    def complete_job(self, job_id: str, worker_id: str, attempt: int, result: RunResult) -> bool:
        return self._apply_finish(rules.Held(job_id, worker_id, attempt), rules.completed(), result)

    def complete_jobs(
        self, worker_id: str, finished: Sequence[tuple[str, int, RunResult]]
    ) -> list[bool]:
        done = rules.completed()
        return self._apply_finishes(
            [
                (rules.Held(job_id, worker_id, attempt), done, result)
                for job_id, attempt, result in finished
            ]
        )

    def fail_job(self, job: Job, result: RunResult, retry_delay: float) -> JobState | None:
        return self._fail(job, result, retry_delay, reaping=False)

    def reap_job(self, job: Job, result: RunResult, retry_delay: float) -> JobState | None:
        return self._fail(job, result, retry_delay, reaping=True)

    def _fail(
        self, job: Job, result: RunResult, retry_delay: float, reaping: bool
    ) -> JobState | None:
        guard = rules.held(job, reads_cancel=True)
        if reaping:
            guard = replace(guard, lease_expired=True)
        finish = rules.failed(job, retry_delay)
        if self._apply_finish(guard, finish, result):
            return finish.state
        current = self.get_job(job.id)
        if current is None or not rules.worth_redeciding(guard, current):
            return None
        guard = replace(guard, cancel_requested=current.cancel_requested)
        finish = rules.failed(current, retry_delay)
        return finish.state if self._apply_finish(guard, finish, result) else None

    def cancel_running_job(
        self, job_id: str, worker_id: str, attempt: int, result: RunResult
    ) -> bool:
        guard = rules.Held(job_id, worker_id, attempt)
        return self._apply_finish(guard, rules.cancelled_while_running(), result)

    def release_job(self, job_id: str, worker_id: str, attempt: int) -> bool:
        return self.release_jobs(worker_id, [(job_id, attempt)])[0]

    def release_jobs(self, worker_id: str, held: Sequence[tuple[str, int]]) -> list[bool]:
        # The worker has no fresh copy of cancel_requested: decide on "not asked" (the
        # common case), all in one batch, and decide again for a guard that failed.
        guards = [rules.Held(job_id, worker_id, n, cancel_requested=False) for job_id, n in held]
        released = rules.released(False)
        applied = self._apply_finishes([(guard, released, RELEASED) for guard in guards])
        return [ok or self._release_again(guard) for ok, guard in zip(applied, guards, strict=True)]

    def _release_again(self, guard: rules.Held) -> bool:
        """A release whose guard failed: the job may have had its cancel asked for."""
        current = self.get_job(guard.job_id)
        if current is None or not rules.worth_redeciding(guard, current):
            return False
        guard = replace(guard, cancel_requested=current.cancel_requested)
        return self._apply_finish(guard, rules.released(current.cancel_requested), RELEASED)
