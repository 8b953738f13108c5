"""How the SQL backends write what was decided, shared by both dialects.

A `rules.Change` becomes one guarded UPDATE or DELETE. The statement's text depends only
on which fields the change sets and how (a value, the store's now, the job's own retry
budget), never on input: column names come from `rules.Field`. The guard is the job as
the decision read it (id, state, last_attempt), so a statement that touches no row means
the job moved meanwhile. A guarded finish and a live tail are bound under the same
parameter names in both dialects (finish_params, tail_params).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def row_statement(
    group: Sequence[rules.Change], dialect: Dialect, common: Mapping[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """One statement for a group of `alike` changes, run once per job (SQLite's
    executemany), and each job's parameters (`common` and its guard: its own state and
    attempt). Its row count says how many applied."""
    p = dialect.param
    guard = f"id = {p('id')} AND state = {p('from_state')} AND last_attempt = {p('from_attempt')}"
    sql, values = _write(group[0], dialect, "", guard, dict(common))
    rows = [
        {**values, "id": c.job_id, "from_state": str(c.from_state), "from_attempt": c.from_attempt}
        for c in group
    ]
    return sql.removesuffix(" RETURNING jobs.id"), rows


def alike(changes: Sequence[rules.Change]) -> list[list[rules.Change]]:
    """The changes in groups that write the same fields with the same values (a cancel
    or a requeue of many jobs is one group), in order of first appearance."""
    groups: dict[tuple[bool, tuple[tuple[Field, rules.Value], ...]], list[rules.Change]] = {}
    for change in changes:
        groups.setdefault((change.delete, tuple(change.sets.items())), []).append(change)
    return list(groups.values())


def array_statement(group: Sequence[rules.Change], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """One statement for a group of `alike` changes, each job guarded by its own state
    and attempt through arrays (PostgreSQL's unnest): one round trip for the group. It
    returns the id of each job it changed."""
    p = dialect.param
    params: dict[str, Any] = {
        "ids": [c.job_id for c in group],
        "from_states": [str(c.from_state) for c in group],
        "from_attempts": [c.from_attempt for c in group],
    }
    guards = (
        f"unnest({p('ids')}::text[], {p('from_states')}::text[], {p('from_attempts')}::integer[])"
        " AS guard (job_id, job_state, job_attempt)"
    )
    guard = "id = job_id AND state = job_state AND last_attempt = job_attempt"
    return _write(group[0], dialect, guards, guard, params)


def _write(
    change: rules.Change, dialect: Dialect, guards: str, guard: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The UPDATE (or DELETE) that writes `change`'s fields where `guard` holds, joined
    with the table of `guards` when there is one."""
    if change.delete:  # the attempts go with the job (ON DELETE CASCADE)
        using = f" USING {guards}" if guards else ""
        return f"DELETE FROM jobs{using} WHERE {guard} RETURNING jobs.id", params
    assignments = [f"updated_at = {dialect.now}"]
    for field, value in change.sets.items():
        if isinstance(value, rules.StoreNow):
            assignments.append(f"{field} = {dialect.now}")
            continue
        name = f"v_{field}"
        placeholder = dialect.casts.get(field, "{}").format(dialect.param(name))
        if isinstance(value, rules.RetryBudget):
            params[name] = value.default
            assignments.append(f"{field} = COALESCE(own_max_retries, {placeholder})")
        else:
            params[name] = str(value) if isinstance(value, str) else value
            assignments.append(f"{field} = {placeholder}")
    source = f" FROM {guards}" if guards else ""
    sets = ", ".join(assignments)
    return f"UPDATE jobs SET {sets}{source} WHERE {guard} RETURNING jobs.id", params


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
