"""Enqueueing on SQLite: one executemany of plain rows.

A large batch also drops the per-row `job_counts_insert` trigger for the length of its
own transaction and adds the counts once per queue: the trigger's upsert per row was
two thirds of a bulk enqueue. SQLite's DDL is transactional and the write lock is held
throughout, so no other writer ever inserts without the trigger, and a crash or an error
rolls the trigger back into place with the rows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from functools import cache
from itertools import chain

from queuectl import workflow
from queuectl.errors import DuplicateJob
from queuectl.models import JobState, NewJob

BULK_ROWS = 200  # from this many jobs, counts are added once instead of row by row
COUNT_TRIGGER = "job_counts_insert"

_COLUMNS = (
    "id, command, queue, priority, max_retries, own_max_retries, timeout, run_at, created_at,"
    " updated_at, keep_daemons, cwd, env, after_mode, blockers, dependents, concurrency_key"
)
_ROW = "(" + ", ".join("?" * (_COLUMNS.count(",") + 1)) + ")"
# Rows a statement inserts: running a statement costs more than inserting its row, so a
# multi-row VALUES list inserts a bulk in a third of the time of a statement per row.
# 200 rows bind 3,400 values, well under SQLite's limit of 32,766.
ROWS_PER_INSERT = 200
_STATES = "SELECT id, state FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
_ADD_DEPENDENTS = "UPDATE jobs SET dependents = dependents + ? WHERE id = ?"
_LINK = "INSERT INTO job_after (parent, child) VALUES (?, ?)"
_ADD_COUNT = (
    "INSERT INTO job_counts (queue, state, n) VALUES (?, 'pending', ?)"
    " ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n"
)
_TAKEN = "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))"


def insert_jobs(
    conn: sqlite3.Connection, jobs: Sequence[NewJob], default_max_retries: int, now: float
) -> None:
    """Insert `jobs` inside the caller's write transaction; DuplicateJob names the first
    id (in input order) that is taken or given twice, and then nothing is inserted."""
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            raise DuplicateJob(job.id)
        seen.add(job.id)
    outside = workflow.check_graph(jobs)
    found = {row[0]: JobState(row[1]) for row in conn.execute(_STATES, (json.dumps(outside),))}
    blockers, dependents = workflow.blockers_at_enqueue(jobs, found)
    rows = [
        (
            job.id,
            job.command,
            job.queue,
            job.priority,
            default_max_retries if job.max_retries is None else job.max_retries,
            job.max_retries,
            job.timeout,
            now + job.delay if job.run_at is None else job.run_at,
            now,
            now,
            job.keep_daemons,
            job.cwd,
            json.dumps(job.env) if job.env else None,
            job.after_mode.value if job.after else None,
            blocking,
            dependents.pop(job.id, 0),
            job.concurrency_key,
        )
        for job, blocking in zip(jobs, blockers, strict=True)
    ]
    links = [(parent, job.id) for job in jobs for parent in job.after]
    conn.execute("SAVEPOINT enqueue")
    try:
        trigger = _count_trigger(conn) if len(rows) >= BULK_ROWS else None
        if trigger is None:
            _insert(conn, rows)
        else:
            conn.execute(f"DROP TRIGGER {COUNT_TRIGGER}")
            _insert(conn, rows)
            conn.executemany(_ADD_COUNT, Counter(job.queue for job in jobs).items())
            conn.execute(trigger)
        if links:
            conn.executemany(_LINK, links)
            conn.executemany(_ADD_DEPENDENTS, [(n, i) for i, n in dependents.items()])
    except sqlite3.IntegrityError:  # the only constraint an insert can break: a taken id
        conn.execute("ROLLBACK TO enqueue")
        conn.execute("RELEASE enqueue")
        raise DuplicateJob(_first_taken(conn, jobs)) from None
    except BaseException:
        # A full disk (or an interrupt) can make SQLite roll the whole transaction back
        # itself, savepoint included: undo what is left, never hide the first error.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK TO enqueue")
                conn.execute("RELEASE enqueue")
        raise
    conn.execute("RELEASE enqueue")


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert `rows` in input order (so `seq` follows it), ROWS_PER_INSERT a statement."""
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        conn.execute(_insert_sql(len(chunk)), list(chain.from_iterable(chunk)))


@cache
def _insert_sql(rows: int) -> str:
    return f"INSERT INTO jobs ({_COLUMNS}) VALUES {', '.join([_ROW] * rows)}"


def _count_trigger(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (COUNT_TRIGGER,)
    ).fetchone()
    return None if row is None else str(row[0])


def _first_taken(conn: sqlite3.Connection, jobs: Sequence[NewJob]) -> str:
    taken: set[str] = set()
    for start in range(0, len(jobs), 10_000):
        ids = json.dumps([job.id for job in jobs[start : start + 10_000]])
        taken.update(row[0] for row in conn.execute(_TAKEN, (ids,)))
    return next(job.id for job in jobs if job.id in taken)
