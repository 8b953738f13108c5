"""The ways a worker ends an attempt, written once for every backend.

queuectl.rules decides how the attempt ends, from the job as the worker holds it (no read
of the store: a finish stays one round trip); the backend's `_apply_finish` applies that
decision guarded by `rules.Held`, in one atomic step that also closes the attempt record.
When the guard fails only because a cancel was asked for meanwhile, the job is read
again and decided once more; otherwise the job moved on and the write is void."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgspec.structs import replace

from queuectl import rules
from queuectl.models import Job, JobState, RunResult

RELEASED = RunResult(exit_code=None, error="released")

Finishing = tuple[rules.Held, rules.Finish, RunResult]
"""A decided finish: the guard it holds under, the decision, the result to record."""


def finish_params(guard: rules.Held, finish: rules.Finish, result: RunResult) -> dict[str, Any]:
    """The parameters of a guarded finish: SQLite's finish_job and finish_attempt, one row
    of PostgreSQL's finish_jobs."""
    return {
        "id": guard.job_id,
        "worker_id": guard.worker_id,
        "attempt": guard.attempt,
        "cancel_requested": guard.cancel_requested,
        "expired_only": guard.lease_expired,
        "state": str(finish.state),
        "run_after": finish.run_after,
        "uncounted": 0 if finish.counted else 1,
        "records_result": finish.records_result,
        "exit_code": result.exit_code,
        "error": result.error,
        "stdout": bytes(result.stdout),
        "stderr": bytes(result.stderr),
        "stdout_bytes": max(result.stdout_bytes, len(result.stdout)),
        "stderr_bytes": max(result.stderr_bytes, len(result.stderr)),
    }


class GuardedFinishes:
    """complete_job, fail_job, reap_job, cancel_running_job and release_job on top of
    `_apply_finish` and `get_job`."""

    def get_job(self, job_id: str) -> Job | None:
        raise NotImplementedError

    def _apply_finish(self, guard: rules.Held, finish: rules.Finish, result: RunResult) -> bool:
        """Apply `finish` to the job and close its attempt record with `result`, in one
        atomic step, only while `guard` holds; whether it applied (if not, nothing
        changed). Raises StoreRefused when the store refuses the result itself (its output
        too large, a constraint), StoreUnavailable/StoreError as any call: the worker
        tells them apart (a refused result is written again degraded, never as is)."""
        raise NotImplementedError

    def _apply_finishes(self, finishes: Sequence[Finishing]) -> list[bool]:
        """`_apply_finish` for each, in order; a backend that can applies them in one
        transaction (one round trip), each guarded on its own."""
        return [self._apply_finish(guard, finish, result) for guard, finish, result in finishes]

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
        # The worker has no fresh copy of cancel_requested: decide on "not asked" (the
        # common case) and, if that guard fails on a cancel request, decide again.
        guard = rules.Held(job_id, worker_id, attempt, cancel_requested=False)
        if self._apply_finish(guard, rules.released(False), RELEASED):
            return True
        current = self.get_job(job_id)
        if current is None or not rules.worth_redeciding(guard, current):
            return False
        guard = replace(guard, cancel_requested=current.cancel_requested)
        return self._apply_finish(guard, rules.released(current.cancel_requested), RELEASED)
