"""How the SQL backends write what was decided, shared by both dialects.

A `rules.Change` becomes one guarded UPDATE or DELETE. The statement's text depends only
on which fields the change sets and how (a value, the store's now, the job's own retry
budget), never on input: column names come from `rules.Field`. The guard is the job as
the decision read it (id, state, last_attempt), so a statement that touches no row means
the job moved meanwhile. A guarded finish and a live tail are bound under the same
parameter names in both dialects (finish_params, tail_params).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from queuectl import rules
from queuectl.models import LiveTail, RunResult

Field = rules.Field


class Dialect(NamedTuple):
    """What differs between SQLite and PostgreSQL: how a parameter is written, the SQL
    of the store's clock, and how a field's value is cast ("{}" is the parameter)."""

    param: Callable[[str], str]
    now: str
    casts: Mapping[Field, str]


def statement(change: rules.Change, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The change's SQL and parameters; it returns the job's id when it applied."""
    p = dialect.param
    params: dict[str, Any] = {
        "id": change.job_id,
        "from_state": str(change.from_state),
        "from_attempt": change.from_attempt,
    }
    guard = f"id = {p('id')} AND state = {p('from_state')} AND last_attempt = {p('from_attempt')}"
    if change.delete:  # the attempts go with the job (ON DELETE CASCADE)
        return f"DELETE FROM jobs WHERE {guard} RETURNING id", params
    assignments = [f"updated_at = {dialect.now}"]
    for field, value in change.sets.items():
        if isinstance(value, rules.StoreNow):
            assignments.append(f"{field} = {dialect.now}")
            continue
        name = f"v_{field}"
        placeholder = dialect.casts.get(field, "{}").format(p(name))
        if isinstance(value, rules.RetryBudget):
            params[name] = value.default
            assignments.append(f"{field} = COALESCE(own_max_retries, {placeholder})")
        else:
            params[name] = str(value) if isinstance(value, str) else value
            assignments.append(f"{field} = {placeholder}")
    return f"UPDATE jobs SET {', '.join(assignments)} WHERE {guard} RETURNING id", params


class Moved(Exception):
    """A job changed since its change was decided: raised inside the transaction, it
    rolls the whole batch back."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


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


def tail_params(tail: LiveTail) -> dict[str, Any]:
    """publish_output's parameters (the same names in both dialects)."""
    return {
        "id": tail.job_id,
        "attempt": tail.attempt,
        "worker_id": tail.worker_id,
        "stdout": bytes(tail.stdout),
        "stderr": bytes(tail.stderr),
        "stdout_bytes": max(tail.stdout_bytes, len(tail.stdout)),
        "stderr_bytes": max(tail.stderr_bytes, len(tail.stderr)),
    }
