"""The ways a worker ends an attempt, written once for every SQL backend.

Each is one guarded statement (named like the method, in the dialect's .sql file) that
moves the job, plus `finish_attempt` closing its attempt record, in one transaction;
a backend supplies `_finish`, which runs the pair."""

from __future__ import annotations

from typing import Any

from queuectl.models import JobState, RunResult

RELEASED = RunResult(exit_code=None, error="released")


def finish_params(
    job_id: str, worker_id: str, attempt: int, result: RunResult, retry_delay: float
) -> dict[str, Any]:
    """The parameters every finishing statement and `finish_attempt` take."""
    return {
        "id": job_id,
        "worker_id": worker_id,
        "attempt": attempt,
        "exit_code": result.exit_code,
        "error": result.error,
        "stdout": bytes(result.stdout),
        "stderr": bytes(result.stderr),
        "stdout_bytes": max(result.stdout_bytes, len(result.stdout)),
        "stderr_bytes": max(result.stderr_bytes, len(result.stderr)),
        "retry_delay": retry_delay,
        "expired_only": False,
    }


class GuardedFinishes:
    """complete_job, fail_job, reap_job, cancel_running_job and release_job on top of
    `_finish`."""

    def _finish(self, query: str, params: dict[str, Any]) -> str | None:
        """Run `query` then `finish_attempt` in one transaction; the job's new state, or
        None when the guard matched no row (and then nothing changed). Raises
        StoreRefused when the database refuses the result itself (its output too large,
        a constraint), StoreUnavailable/StoreError as any call: the worker tells them
        apart (a refused result is written again degraded, never retried as is)."""
        raise NotImplementedError

    def complete_job(self, job_id: str, worker_id: str, attempt: int, result: RunResult) -> bool:
        params = finish_params(job_id, worker_id, attempt, result, 0.0)
        return self._finish("complete_job", params) is not None

    def fail_job(
        self, job_id: str, worker_id: str, attempt: int, result: RunResult, retry_delay: float
    ) -> JobState | None:
        state = self._finish(
            "fail_job", finish_params(job_id, worker_id, attempt, result, retry_delay)
        )
        return JobState(state) if state else None

    def reap_job(
        self, job_id: str, worker_id: str, attempt: int, result: RunResult, retry_delay: float
    ) -> JobState | None:
        params = finish_params(job_id, worker_id, attempt, result, retry_delay)
        params["expired_only"] = True
        state = self._finish("fail_job", params)
        return JobState(state) if state else None

    def cancel_running_job(
        self, job_id: str, worker_id: str, attempt: int, result: RunResult
    ) -> bool:
        params = finish_params(job_id, worker_id, attempt, result, 0.0)
        return self._finish("cancel_running_job", params) is not None

    def release_job(self, job_id: str, worker_id: str, attempt: int) -> bool:
        params = finish_params(job_id, worker_id, attempt, RELEASED, 0.0)
        return self._finish("release_job", params) is not None
