"""Scale: what claim, status, the first page of `list` and `dlq list` cost with a small
and a large table. Only completed jobs grow with the table (waiting and dead jobs are
the same few), loaded by a direct bulk insert."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator

from queuectl.bench import Figure
from queuectl.models import JobQuery
from queuectl.store import open_store
from queuectl.store.base import Store

WAITING = 100  # pending due, scheduled and dead jobs, each: the same at every size


# One job row as the loaders write it: (id, state, queue, priority, run_at, last_error,
# exit_code, concurrency_key, attempts). Every job is a plain `true`, created 100 s ago.
Row = tuple[str, str, str, int, float, str | None, int | None, str | None, int]


def _rows(total: int, now: float) -> Iterator[Row]:
    """WAITING jobs each pending due now, scheduled a day ahead and dead; the rest (the
    table's growth) completed."""
    for i in range(total):
        kind = i // WAITING
        if kind == 0:
            yield (f"j{i}", "pending", "default", 0, now - 1, None, None, None, 1)
        elif kind == 1:
            yield (f"j{i}", "pending", "default", 0, now + 86_400, None, None, None, 1)
        elif kind == 2:
            yield (f"j{i}", "dead", "default", 0, now - 100, "exit code 1", 1, None, 1)
        else:
            yield (f"j{i}", "completed", "default", 0, now - 100, None, 0, None, 1)


def load_sqlite(path: str, rows: Iterable[Row], now: float) -> None:
    """Insert `rows` in one transaction (the schema's triggers keep the counts and the
    keys' counters as for any insert), then ANALYZE."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (id, command, state, queue, priority, run_at, last_error, exit_code,"
        " concurrency_key, attempts, last_attempt, max_retries, created_at, updated_at)"
        " VALUES (?, 'true', ?, ?, ?, ?, ?, ?, ?, ?, ?, 3, ?, ?)",
        ((*row, row[-1], now - 100, now - 100) for row in rows),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, rows: Iterable[Row], now: float) -> None:
    """COPY `rows` in (triggers as for any insert), then VACUUM ANALYZE."""
    import datetime

    import psycopg

    def utc(seconds: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC)

    columns = "id, command, state, queue, priority, run_at, last_error, exit_code,"
    columns += " concurrency_key, attempts, last_attempt, max_retries, created_at, updated_at"
    created = utc(now - 100)
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(f"COPY jobs ({columns}) FROM STDIN") as copy,
    ):
        for i, s, q, p, r, e, c, k, a in rows:
            copy.write_row((i, "true", s, q, p, utc(r), e, c, k, a, a, 3, created, created))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")


def _operations(store: Store) -> dict[str, Callable[[], object]]:
    from queuectl.service.dlq import list_dead
    from queuectl.service.paging import list_jobs
    from queuectl.service.status import status

    return {
        "claim": lambda: store.claim_jobs("bench-worker", None, 1, 60.0),
        "status": lambda: status(store),
        "list first page": lambda: list_jobs(store, JobQuery()),
        "dlq list": lambda: list_dead(store),
    }


def load(url: str, backend: str, total: int) -> None:
    open_store(url).close()  # create the schema
    now = time.time()
    if backend == "postgresql":
        load_postgres(url, _rows(total, now), now)
    else:
        load_sqlite(url, _rows(total, now), now)


def measure(small_url: str, large_url: str, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median ms of each operation on both tables, the two timed turn about so that
    whatever else the machine does falls on both alike."""
    stores = [open_store(small_url), open_store(large_url)]
    try:
        operations = [_operations(store) for store in stores]
        times: list[dict[str, list[float]]] = [{name: [] for name in ops} for ops in operations]
        for ops in operations:  # warm caches and connections
            for action in ops.values():
                action()
        for _ in range(runs):
            for name in operations[0]:
                for side, ops in enumerate(operations):
                    start = time.perf_counter()
                    ops[name]()
                    times[side][name].append((time.perf_counter() - start) * 1000)
        small, large = (
            {name: sorted(samples)[len(samples) // 2] for name, samples in side.items()}
            for side in times
        )
        return small, large
    finally:
        for store in stores:
            store.close()


def figures(
    small: dict[str, float], large: dict[str, float], backend: str, sizes: str
) -> list[Figure]:
    result = []
    for name, small_ms in small.items():
        figure = Figure(f"scale {name}", backend, "ms", [large[name]], note=sizes)
        figure.target = "<= 1.5x small table"
        figure.baseline, figure.baseline_label = small_ms, "small table"
        figure.ratio = large[name] / small_ms if small_ms else None
        figure.met = figure.ratio is not None and figure.ratio <= 1.5
        result.append(figure)
    return result
