"""Workflows on SQLite: sql_after's steps on a connection inside its write transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from queuectl import rules
from queuectl.models import JobLinks, JobState
from queuectl.store import sql_after
from queuectl.store.sqlite_base import Q


def runner(conn: sqlite3.Connection) -> sql_after.Run:
    """sql_after's `run` on this connection: lists bound as JSON arrays."""

    def run(name: str, params: dict[str, Any]) -> list[str]:
        bound = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
        return [row[0] for row in conn.execute(Q[name], bound).fetchall()]

    return run


def after_changes(
    conn: sqlite3.Connection, changes: Sequence[rules.Change], now: float
) -> tuple[str, ...]:
    """Release or cancel the jobs after those the changes ended, and bring back those
    after the ones put back to pending; returns the ids brought back."""
    ended, reopened = sql_after.moves(
        [(c.job_id, c.from_state, c.state) for c in changes if not c.delete]
    )
    run = runner(conn)
    if ended:
        sql_after.release(run, ended, now)
    return tuple(sql_after.reopen(run, reopened, now))


def after_finish(conn: sqlite3.Connection, ended: list[tuple[str, JobState]], now: float) -> None:
    """Release or cancel the jobs after the jobs a finish ended (those with dependents)."""
    if ended:
        sql_after.release(runner(conn), ended, now)


def links(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, JobLinks]:
    """Store.job_links on SQLite: one read for every id."""
    edges = conn.execute(Q["job_links"], {"ids": json.dumps(list(dict.fromkeys(job_ids)))})
    return sql_after.links_of(job_ids, ((parent, child) for parent, child in edges))
