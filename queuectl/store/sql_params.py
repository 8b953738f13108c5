"""The parameters both SQL dialects bind under the same names, so each is built once:
a guarded finish's (SQLite's finish_job and finish_attempt, one row of PostgreSQL's
finish_jobs) and a live tail's (publish_output)."""

from __future__ import annotations

from typing import Any

from queuectl import rules
from queuectl.models import LiveTail, RunResult


def finish_params(guard: rules.Held, finish: rules.Finish, result: RunResult) -> dict[str, Any]:
    """A guarded finish: the guard it holds under, the decision, the result to record."""
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


def tail_params(tail: LiveTail) -> dict[str, Any]:
    """publish_output's parameters: a running attempt's output so far."""
    return {
        "id": tail.job_id,
        "attempt": tail.attempt,
        "worker_id": tail.worker_id,
        "stdout": bytes(tail.stdout),
        "stderr": bytes(tail.stderr),
        "stdout_bytes": max(tail.stdout_bytes, len(tail.stdout)),
        "stderr_bytes": max(tail.stderr_bytes, len(tail.stderr)),
    }
