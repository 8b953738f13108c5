"""Workflows on PostgreSQL: enqueueing jobs after others, and what a change of a job does
to the jobs after it, inside the caller's transaction (queuectl/workflow.py has the rules;
a finish releases in its own statement, through queuectl_release: see postgres.sql)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import psycopg

from queuectl import rules, workflow
from queuectl.models import JobLinks, JobState, NewJob
from queuectl.store import sql_after
from queuectl.store.postgres_connect import Row

# What every finish statement is given: the rules a release applies, the end states.
FINISH_PARAMS: dict[str, Any] = {
    "after_rules": json.dumps(sql_after.release_rules()),
    "final": sql_after.FINAL,
}


class Links(NamedTuple):
    """An enqueue's workflow columns (to merge into enqueue_job's) and its edges."""

    columns: dict[str, list[Any]]
    edges: dict[str, list[str]]


def link_params(
    conn: psycopg.Connection[Row], q: Mapping[str, str], jobs: Sequence[NewJob], outside: list[str]
) -> Links | None:
    """For an enqueue with `after` lists: lock the existing jobs they name and count their
    new dependents (job_states), then work out each new job's blockers. None when no job
    of the batch runs after another."""
    if not any(job.after for job in jobs):
        return None
    added = {parent: 0 for parent in outside}
    for job in jobs:
        for parent in job.after:
            if parent in added:
                added[parent] += 1
    # In id order: two enqueues after the same jobs lock them in the same order.
    ordered = sorted(added)
    params = {"ids": ordered, "counts": [added[parent] for parent in ordered]}
    found = {row["id"]: JobState(row["state"]) for row in conn.execute(q["job_states"], params)}
    blockers, dependents = workflow.blockers_at_enqueue(jobs, found)
    columns: dict[str, list[Any]] = {
        "after_modes": [job.after_mode.value if job.after else None for job in jobs],
        "blockers": blockers,
        "dependents": [dependents.get(job.id, 0) for job in jobs],
    }
    edges = [(parent, job.id) for job in jobs for parent in job.after]
    return Links(columns, {"parents": [p for p, _ in edges], "children": [c for _, c in edges]})


def runner(conn: psycopg.Connection[Row], q: Mapping[str, str]) -> sql_after.Run:
    def run(name: str, params: dict[str, Any]) -> list[str]:
        return [row["id"] for row in conn.execute(q[name], params)]

    return run


def after_changes(
    conn: psycopg.Connection[Row], q: Mapping[str, str], changes: Sequence[rules.Change]
) -> tuple[str, ...]:
    """Release or cancel the jobs after those the changes ended, and bring back those
    after the ones put back to pending; returns the ids brought back."""
    ended, reopened = sql_after.moves(
        [(c.job_id, c.from_state, c.state) for c in changes if not c.delete]
    )
    if ended:
        params = {
            "ids": [job_id for job_id, _ in ended],
            "states": [state.value for _, state in ended],
            "rules": FINISH_PARAMS["after_rules"],
        }
        conn.execute(q["release_after"], params)
    # The statements read the server's clock themselves: `now` is not used.
    return tuple(sql_after.reopen(runner(conn, q), reopened, 0.0))


def links(
    conn: psycopg.Connection[Row], q: Mapping[str, str], job_ids: Sequence[str]
) -> dict[str, JobLinks]:
    """Store.job_links on PostgreSQL: one read for every id."""
    edges = conn.execute(q["job_links"], {"ids": list(dict.fromkeys(job_ids))})
    return sql_after.links_of(job_ids, ((row["parent"], row["child"]) for row in edges))
