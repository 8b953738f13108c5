"""Enqueueing on SQLite: multi-row INSERTs that bind a value shared by every row once.

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
from functools import lru_cache
from itertools import chain

from queuectl import rules, workflow
from queuectl.errors import DuplicateJob, UniqueKeyTaken
from queuectl.models import JobState, NewJob
from queuectl.store.sqlite_base import Q

BULK_ROWS = 200  # from this many jobs, counts are added once instead of row by row
COUNT_TRIGGER = "job_counts_insert"

_COLUMNS = (
    "id, command, queue, priority, max_retries, own_max_retries, timeout, run_at, created_at,"
    " updated_at, keep_daemons, cwd, env, after_mode, blockers, dependents, concurrency_key,"
    " unique_key"
)
# Rows a statement inserts: running a statement costs more than inserting its row, so a
# multi-row VALUES list inserts a bulk in a third of the time of a statement per row.
# 200 rows bind at most 3,600 values, well under SQLite's limit of 32,766.
ROWS_PER_INSERT = 200
_STATES = "SELECT id, state FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
_ADD_DEPENDENTS = "UPDATE jobs SET dependents = dependents + ? WHERE id = ?"
LINKS_PER_INSERT = 500  # (parent, child) rows a statement inserts (as ROWS_PER_INSERT)
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
    _check_unique_keys(conn, jobs)
    outside = workflow.check_graph(jobs)
    found = {row[0]: JobState(row[1]) for row in conn.execute(_STATES, (json.dumps(outside),))}
    blockers, dependents = workflow.blockers_at_enqueue(jobs, found)
    columns: list[list[object]] = [
        [job.id for job in jobs],
        [job.command for job in jobs],
        [job.queue for job in jobs],
        [job.priority for job in jobs],
        [default_max_retries if job.max_retries is None else job.max_retries for job in jobs],
        [job.max_retries for job in jobs],
        [job.timeout for job in jobs],
        [now + job.delay if job.run_at is None else job.run_at for job in jobs],
        [now] * len(jobs),
        [now] * len(jobs),
        [job.keep_daemons for job in jobs],
        [job.cwd for job in jobs],
        [json.dumps(job.env) if job.env else None for job in jobs],
        [job.after_mode.value if job.after else None for job in jobs],
        list(blockers),
        [dependents.pop(job.id, 0) for job in jobs],
        [job.concurrency_key for job in jobs],
        [job.unique_key for job in jobs],
    ]
    links = [(parent, job.id) for job in jobs for parent in job.after]
    conn.execute("SAVEPOINT enqueue")
    try:
        trigger = _count_trigger(conn) if len(jobs) >= BULK_ROWS else None
        if trigger is None:
            _insert(conn, columns)
        else:
            conn.execute(f"DROP TRIGGER {COUNT_TRIGGER}")
            _insert(conn, columns)
            conn.executemany(_ADD_COUNT, Counter(job.queue for job in jobs).items())
            conn.execute(trigger)
        if links:
            _link(conn, links)
            conn.executemany(_ADD_DEPENDENTS, [(n, i) for i, n in dependents.items()])
    except sqlite3.IntegrityError:  # a taken id (unique keys were checked under the lock)
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


def _insert(conn: sqlite3.Connection, columns: Sequence[Sequence[object]]) -> None:
    """Insert the rows that `columns` hold (one list per column of _COLUMNS) in input
    order, so `seq` follows it, ROWS_PER_INSERT a statement. A column whose value is
    the same in every row of a statement is bound once, not once a row: binding is
    most of an insert's cost, and in a bulk most columns hold the same value."""
    total = len(columns[0])
    for start in range(0, total, ROWS_PER_INSERT):
        end = min(start + ROWS_PER_INSERT, total)
        chunk = [column[start:end] for column in columns]
        # Values equal by == are stored alike in a column of a declared type (1, 1.0 and
        # True in a number column; str and None compare only with their own kind).
        shared = tuple(part.count(part[0]) == len(part) for part in chunk)
        values = [part[0] for part, same in zip(chunk, shared, strict=True) if same]
        varying = [part for part, same in zip(chunk, shared, strict=True) if not same]
        values.extend(chain.from_iterable(zip(*varying, strict=True)))
        conn.execute(_insert_sql(end - start, shared), values)


def _link(conn: sqlite3.Connection, links: Sequence[tuple[str, str]]) -> None:
    """Insert the (parent, child) rows of job_after, LINKS_PER_INSERT a statement."""
    for start in range(0, len(links), LINKS_PER_INSERT):
        chunk = links[start : start + LINKS_PER_INSERT]
        conn.execute(_link_sql(len(chunk)), list(chain.from_iterable(chunk)))


@lru_cache(maxsize=8)  # a graph's full chunks and its last one
def _link_sql(rows: int) -> str:
    return f"INSERT INTO job_after (parent, child) VALUES {', '.join(['(?, ?)'] * rows)}"


@lru_cache(maxsize=64)  # a few shapes recur: one job, a bulk's full and last chunks
def _insert_sql(rows: int, shared: tuple[bool, ...]) -> str:
    """The statement for `rows` rows: parameters ?1.. are the shared columns, once; the
    varying columns follow, row by row."""
    first_varying = sum(shared) + 1
    per_row = len(shared) - sum(shared)
    parts = []
    for row in range(rows):
        shared_at = 1
        varying_at = first_varying + row * per_row
        params = []
        for same in shared:
            if same:
                params.append(f"?{shared_at}")
                shared_at += 1
            else:
                params.append(f"?{varying_at}")
                varying_at += 1
        parts.append(f"({', '.join(params)})")
    return f"INSERT INTO jobs ({_COLUMNS}) VALUES {', '.join(parts)}"


def _check_unique_keys(conn: sqlite3.Connection, jobs: Sequence[NewJob]) -> None:
    """UniqueKeyTaken for the first job whose unique key is held by a waiting or running
    job, or by an earlier job of the batch (read under the write lock: nothing can take
    a key meanwhile; the partial unique index jobs_unique_key guards as well)."""
    repeated = rules.repeated_unique_key(jobs)
    if repeated is not None:
        raise repeated
    keys = [job.unique_key for job in jobs if job.unique_key is not None]
    if not keys:
        return
    held = dict(conn.execute(Q["unique_holders"], {"keys": json.dumps(keys)}).fetchall())
    for job in jobs:
        if job.unique_key is not None and job.unique_key in held:
            raise UniqueKeyTaken(job.id, job.unique_key, held[job.unique_key])


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
