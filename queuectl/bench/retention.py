"""Retention: what a prune costs the jobs still running. A drain of short jobs claims one
job at a time (the claim timed, its end recorded untimed, like a one-slot worker whose
jobs take no time) while retention.prune_if_due removes `pruned` completed jobs two days
old (keep-completed 1d) from a thread on a connection of its own; beside it, the claim
p99 of the same drain with no prune, in the same run and on the same table."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

from queuectl.bench import Figure
from queuectl.config import parse_value
from queuectl.models import NewJob, RunResult
from queuectl.service import retention
from queuectl.store import Store, open_store

TARGET_MS = 20.0
AGE = 2 * 86_400.0  # the loaded jobs ended this long ago: past keep-completed (1d)
WORKER = "bench-drain"
CHUNK = 200  # drain jobs enqueued at a time while the prune runs
DONE = RunResult(exit_code=0, error=None)


def measure(url: str, backend: str, pruned: int, drained: int) -> list[Figure]:
    """Claim p99 during a prune of `pruned` completed jobs beside the p99 of `drained`
    claims with no prune; and the prune's own rate."""
    load_completed(url, backend, pruned)
    store = open_store(url, durable=False)  # as a worker and its housekeeping open it
    pruner = open_store(url, durable=False)
    try:
        store.set_config(*parse_value("keep-completed", "1d"))
        alone = _drain(store, "alone", drained)
        outcome: dict[str, float] = {}

        def prune() -> None:
            start = time.perf_counter()
            outcome["removed"] = retention.prune_if_due(pruner)
            outcome["seconds"] = time.perf_counter() - start

        thread = threading.Thread(target=prune, name="bench-prune")
        thread.start()
        during: list[float] = []
        while not during or thread.is_alive():
            during += _drain(store, f"beside{len(during)}", CHUNK)
        thread.join()
    finally:
        store.close()
        pruner.close()
    if outcome.get("removed") != pruned:
        raise RuntimeError(f"retention: the prune removed {outcome.get('removed')} of {pruned}")
    return _figures(backend, pruned, alone, during, outcome["seconds"])


def _drain(store: Store, name: str, jobs: int) -> list[float]:
    """Enqueue `jobs` `true` jobs, then claim them one by one: each claim's ms."""
    store.enqueue_jobs([NewJob(id=f"{name}-{i}", command="true") for i in range(jobs)], 0)
    times: list[float] = []
    while True:
        start = time.perf_counter()
        claimed = store.claim_jobs(WORKER, None, 1, 60.0)
        if not claimed:
            return times
        times.append((time.perf_counter() - start) * 1000)
        job = claimed[0]
        store.complete_jobs(WORKER, [(job.id, job.last_attempt, DONE)])


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _figures(
    backend: str, pruned: int, alone: list[float], during: list[float], seconds: float
) -> list[Figure]:
    p99 = _p99(during)
    figure = Figure(
        "claim p99 during prune",
        backend,
        "ms",
        [p99],
        f"<= {TARGET_MS:g} ms",
        baseline=_p99(alone),
        baseline_label="no prune",
        met=p99 <= TARGET_MS,
        note=f"{pruned:,} completed jobs pruned, {len(during):,} claims beside it",
    )
    figure.ratio = p99 / figure.baseline if figure.baseline else None
    note = f"{pruned:,} jobs, batches of {retention.BATCH}, {retention.PAUSE * 1000:g} ms apart"
    rate = Figure("prune", backend, "jobs/s", [pruned / seconds if seconds else 0.0], note=note)
    return [figure, rate]


def load_completed(url: str, backend: str, total: int) -> None:
    """`total` completed jobs (one attempt each) that ended AGE ago."""
    open_store(url).close()  # create the schema
    if backend == "sqlite":
        _load_sqlite(url, total)
    elif backend == "postgresql":
        _load_postgres(url, total)
    else:
        _load_through_store(url, total)


def _ids(total: int) -> Iterator[str]:
    return (f"old{i}" for i in range(total))


def _load_sqlite(path: str, total: int) -> None:
    ended = time.time() - AGE
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (id, command, queue, state, max_retries, run_at, created_at,"
        " updated_at, exit_code, attempts, last_attempt)"
        " VALUES (?, 'true', 'default', 'completed', 3, ?, ?, ?, 0, 1, 1)",
        ((i, ended, ended, ended) for i in _ids(total)),
    )
    conn.execute(
        "INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, exit_code)"
        " SELECT id, 1, 'bench', updated_at, updated_at, 0 FROM jobs WHERE state = 'completed'"
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _load_postgres(url: str, total: int) -> None:
    import datetime

    import psycopg

    ended = datetime.datetime.fromtimestamp(time.time() - AGE, datetime.UTC)
    with psycopg.connect(url) as conn:
        columns = "id, command, state, max_retries, run_at, created_at, updated_at,"
        columns += " exit_code, attempts, last_attempt"
        with conn.cursor().copy(f"COPY jobs ({columns}) FROM STDIN") as copy:
            for i in _ids(total):
                copy.write_row((i, "true", "completed", 3, ended, ended, ended, 0, 1, 1))
        conn.execute(
            "INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at,"
            " exit_code) SELECT id, 1, 'bench', updated_at, updated_at, 0 FROM jobs"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")
        conn.execute("VACUUM ANALYZE attempts")


def _load_through_store(url: str, total: int) -> None:
    """Redis: enqueue, claim and complete through the store, its clock set AGE back."""
    store = open_store(url)
    store.advance_clock(-AGE)
    try:
        ids = list(_ids(total))
        for start in range(0, total, 10_000):
            chunk = [NewJob(id=i, command="true") for i in ids[start : start + 10_000]]
            store.enqueue_jobs(chunk, 3)
        while claimed := store.claim_jobs("bench-loader", None, 1000, 3600.0):
            store.complete_jobs("bench-loader", [(j.id, j.last_attempt, DONE) for j in claimed])
    finally:
        store.close()
