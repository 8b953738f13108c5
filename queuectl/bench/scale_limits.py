"""Scale with limits in force: a claim that must pass over a long backlog its limits hold
back, with a small and a large store.

Each store holds, besides the free work a claim can take (WAITING jobs, due now, lowest
priority), a queue with concurrency limit 1 whose one job runs and a concurrency key
(limit 1) whose one job runs, each with a due backlog ahead of the free work (higher
priority), half the store each. A claim of one job must get past both backlogs to the
free work: a store that parks the jobs its limits hold back (out of its claim index)
reads none of them again; one that does not reads them all, every claim.

The figure is the steady state: before timing, claims run on each store until one takes
a job, the backlog ahead of the free work being parked by then (PARK_PER_CLAIM jobs a
claim; at most WARM_SECONDS in all), and each claimed job is released (untimed) so every
claim finds the same store. A timed claim that takes no job fails the figure. On
PostgreSQL the tables are vacuumed after the warm-up, as autovacuum soon would be (see
_vacuum).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from queuectl.bench import Figure
from queuectl.bench.scale import WAITING, Row, load_postgres, load_sqlite
from queuectl.limits import KeyLimit
from queuectl.models import JobState, NewJob
from queuectl.store import open_store
from queuectl.store.base import Store

PROCESSING = JobState.PROCESSING
QUEUE = "limited"  # concurrency 1, one job running
KEY = "busy"  # concurrency key, limit 1, one job running
PARK_PER_CLAIM = 1000  # the most a claim parks (the other claims park the rest)
WARM_SECONDS = 300.0
LEASE = 86_400.0  # the holders and the measured claims never expire meanwhile
REDIS_BATCH = 10_000  # jobs per enqueue on Redis


def _backlog(total: int, now: float) -> Iterator[Row]:
    """The held-back backlog (the queue's and the key's in turn, priority 10) and then the
    free work (priority 0): `total` jobs, all pending and due."""
    held = max(total - WAITING, 2)
    for i in range(held):
        queue, key = (QUEUE, None) if i % 2 else ("default", KEY)
        yield (f"b{i}", "pending", queue, 10, now - 1, None, None, key, 0)
    for i in range(WAITING):
        yield (f"f{i}", "pending", "default", 0, now - 1, None, None, None, 0)


def with_prefix(url: str, prefix: str) -> str:
    """A Redis URL with its keys under `prefix` (the store's `prefix` parameter)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"] + [("prefix", prefix)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def load(url: str, backend: str, total: int) -> None:
    """A store of `total` waiting jobs (_backlog) behind the running holder of the queue
    and of the key (claimed first, through the Store, as a worker would)."""
    store = open_store(url)
    try:
        holders = [
            NewJob(id="holder-queue", command="true", queue=QUEUE, priority=100),
            NewJob(id="holder-key", command="true", priority=100, concurrency_key=KEY),
        ]
        store.enqueue_jobs(holders, 3)
        claimed = store.claim_jobs("bench-holder", None, 2, LEASE)
        if sorted(job.id for job in claimed) != ["holder-key", "holder-queue"]:
            raise RuntimeError(f"claim with limits: the holders were not claimed: {claimed}")
        store.set_queue_limit(QUEUE, 1, None)
        now = store.now()
        if backend == "redis":  # the store's own enqueue keeps its indexes and counters
            batch: list[NewJob] = []
            for row in _backlog(total, now):
                job_id, _, queue, priority, _, _, _, key, _ = row
                batch.append(NewJob(job_id, "true", queue, priority, concurrency_key=key))
                if len(batch) == REDIS_BATCH:
                    store.enqueue_jobs(batch, 3)
                    batch = []
            store.enqueue_jobs(batch, 3)
    finally:
        store.close()
    if backend == "postgresql":
        load_postgres(url, _backlog(total, now), now)
    elif backend == "sqlite":
        load_sqlite(url, _backlog(total, now), now)
    _check(url, total)


def _check(url: str, total: int) -> None:
    """The loaded store's counters say what was loaded (the loaders bypass the enqueue)."""
    keyed = sum(1 for row in _backlog(total, 0.0) if row[7] == KEY) + 1
    store = open_store(url)
    try:
        counts = store.count_jobs().by_state
        found = (store.key_limits([KEY]), counts.get(JobState.PENDING), counts.get(PROCESSING))
    finally:
        store.close()
    wanted = ([KeyLimit(KEY, None, 1, keyed)], total, 2)
    if found != wanted:
        raise RuntimeError(f"claim with limits: loaded {found}, not {wanted}")


def _claim(store: Store) -> tuple[float, bool]:
    """One timed claim of one job (ms), and whether it took one (released, untimed)."""
    start = time.perf_counter()
    jobs = store.claim_jobs("bench-worker", None, 1, LEASE)
    elapsed = (time.perf_counter() - start) * 1000
    for job in jobs:
        store.release_job(job.id, "bench-worker", job.last_attempt)
    return elapsed, bool(jobs)


def measure(
    small_url: str, large_url: str, large: int, runs: int, backend: str
) -> tuple[list[float], list[float], bool]:
    """Claim times (ms) on both stores, timed turn about after the warm-up, and whether
    every timed claim took a job."""
    stores = [open_store(small_url), open_store(large_url)]
    try:
        deadline = time.monotonic() + WARM_SECONDS
        for store in stores:  # until a claim gets past the backlog: all of it parked
            for _ in range(-(-large // PARK_PER_CLAIM) + 1):
                if _claim(store)[1] or time.monotonic() > deadline:
                    break
        if backend == "postgresql":
            for url in (small_url, large_url):
                _vacuum(url)
        took = True
        times: list[list[float]] = [[], []]
        for _ in range(runs):
            for side, store in enumerate(stores):
                elapsed, taken = _claim(store)
                times[side].append(elapsed)
                took = took and taken
        return times[0], times[1], took
    finally:
        for store in stores:
            store.close()


def _vacuum(url: str) -> None:
    """What autovacuum does soon after a million rows changed: parking a job is an update
    that leaves its old entry in the claim index, which claims step over until then."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM jobs")


def run(
    fresh: Callable[[str], AbstractContextManager[str]],
    backend: str,
    small: int,
    large: int,
    runs: int,
) -> Figure:
    """The figure: a store of `small` and one of `large` jobs (fresh databases), loaded,
    warmed and measured."""
    with fresh("limits_small") as small_url, fresh("limits_large") as large_url:
        urls = [small_url, large_url]
        if backend == "redis":  # the same database twice (flushed by both): a prefix each
            urls = [with_prefix(small_url, "bench_small:"), with_prefix(large_url, "bench_large:")]
        load(urls[0], backend, small)
        load(urls[1], backend, large)
        at_small, at_large, took = measure(urls[0], urls[1], large, runs, backend)
    return figure(at_small, at_large, took, backend, f"{small:,} vs {large:,} jobs")


def figure(small: list[float], large: list[float], took: bool, backend: str, sizes: str) -> Figure:
    result = Figure("scale claim with limits", backend, "ms", large, note=sizes)
    result.target = "<= 1.5x small table"
    small_ms = sorted(small)[len(small) // 2]
    result.baseline, result.baseline_label = small_ms, "small table"
    result.ratio = result.median / small_ms if small_ms else None
    result.met = took and result.ratio is not None and result.ratio <= 1.5
    if not took:
        result.note += "; a claim took no job"
    return result
