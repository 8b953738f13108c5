"""A projection past this machine: what one database can take, and how many worker
cores it takes to get there, from costs measured per job.

The model. A job costs three kinds of CPU time:

- `store`: the store's serial cost, the part that one database cannot spread over cores:
  on SQLite the time the write lock is held (claim and finish are write transactions and
  SQLite has one writer; timed on a loop claiming and finishing one job at a time, so
  higher than a worker's batches pay), on Redis the server's CPU time during a drain (one
  thread runs every script), on PostgreSQL the CPU time of the backends serving the drain
  (which spreads over the server's cores, so its ceiling is per core of the database
  server);
- `worker`: the worker process's own CPU time (claiming, spawning, reading output,
  recording), which runs on one core per process: Python holds one lock per process;
- `job`: the CPU time of the job's own process (`/bin/sh -c true` here).

One database takes at most `1 / store` jobs/s (PostgreSQL: per core it has), and worker
processes reach that at `ceiling x worker` cores of workers (plus `ceiling x job` for the
jobs themselves). On this machine, where the database, the workers and the jobs share `C`
cores, P worker processes should drain at

    min(P / worker, C / (worker + job + server), ceiling)

where `server` is the database server's CPU per job (0 for SQLite: its cost runs inside
the worker). The figures put that prediction beside the measured drain of P = 1 and,
when the worker takes `--procs`, P = 2.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from queuectl.bench import Figure
from queuectl.bench.procs import bench_env, queuectl_command, start_worker
from queuectl.bench.running import wait_registered
from queuectl.models import JobState, NewJob, RunResult
from queuectl.store import open_store
from queuectl.store.base import Store

Fresh = Callable[[str], AbstractContextManager[str]]  # a name -> an empty database's URL
WORKER = "bench-projection"
DONE = RunResult(exit_code=0, error=None)
TICK = os.sysconf("SC_CLK_TCK")
# Slots a worker process runs: enough that a drain is bound by CPU, not by the round
# trip of each slot (claim, spawn, exit, record), which the model leaves out.
SLOTS = 8
# Claims measured for the serial cost, at least: CPU clocks from /proc tick every 10 ms.
SERIAL_JOBS = 1000


def _stat(pid: int) -> tuple[float, float]:
    """(own CPU seconds, reaped children's CPU seconds) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it, read from /proc/*/task/*/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def _is_queuectl(pid: int) -> bool:
    try:
        return b"queuectl" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class _ServerClock:
    """CPU seconds the database server has used so far (None: not measurable here)."""

    def __init__(self, backend: str, url: str) -> None:
        self.read: Callable[[], float] | None = None
        if backend == "redis":
            import redis

            client = redis.Redis.from_url(url)

            def redis_cpu() -> float:
                info = client.info("cpu")
                return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

            self.read = redis_cpu
        elif backend == "postgresql":
            import psycopg

            def postgres_cpu() -> float:
                with psycopg.connect(url, autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"
                    ).fetchall()
                total = 0.0
                for (pid,) in rows:
                    try:
                        total += sum(_stat(int(pid)))
                    except OSError:
                        continue
                return total

            self.read = postgres_cpu


def store_cost(url: str, backend: str, jobs: int) -> tuple[float, float]:
    """(serial store seconds a job, this process's seconds a job) for `jobs` claims of
    one job and their completion, one after the other through the store as a worker
    opens it. SQLite: the time inside write transactions; PostgreSQL: the CPU time of the
    connections' backends; Redis: the server's CPU time."""
    store = open_store(url, durable=False)
    try:
        store.enqueue_jobs([NewJob(id=f"serial-{i}", command="true") for i in range(jobs)], 0)
        server = _ServerClock(backend, url)
        with _write_timer(store, backend) as held:
            cpu_before = time.process_time()
            server_before = server.read() if server.read else 0.0
            while claimed := store.claim_jobs(WORKER, None, 1, 60.0):
                job = claimed[0]
                store.complete_jobs(WORKER, [(job.id, job.last_attempt, DONE)])
            server_after = server.read() if server.read else 0.0
            own = time.process_time() - cpu_before
    finally:
        store.close()
    serial = held[0] if backend == "sqlite" else server_after - server_before
    return serial / jobs, own / jobs


@contextmanager
def _write_timer(store: Store, backend: str) -> Iterator[list[float]]:
    """On SQLite, add up the seconds spent inside the store's write transactions (from
    BEGIN IMMEDIATE taking the lock to COMMIT): a measuring wrapper around the real
    method, taken off afterwards."""
    held = [0.0]
    if backend != "sqlite":
        yield held
        return
    original = store._writing  # type: ignore[attr-defined]

    @contextmanager
    def timed() -> Iterator[object]:
        with original() as conn:
            start = time.perf_counter()
            yield conn
            held[0] += time.perf_counter() - start

    store._writing = timed  # type: ignore[attr-defined]
    try:
        yield held
    finally:
        del store._writing  # type: ignore[attr-defined]


def worker_cost(
    url: str, backend: str, jobs: int, procs: int | None
) -> tuple[float, float, float, float]:
    """(jobs/s, worker CPU seconds a job, job CPU seconds a job, database server CPU seconds
    a job) of a worker with SLOTS slots a process (with `procs`: that many processes) over
    `jobs` `true` jobs enqueued once it is up (its start-up is not counted), its processes'
    CPU read from /proc; the server's as _ServerClock reads it (0 for SQLite)."""
    extra = ["--procs", str(procs)] if procs is not None else []
    worker = start_worker(url, "--count", str(SLOTS * (procs or 1)), *extra)
    store = open_store(url)
    try:
        wait_registered(url, worker.pid, time.monotonic() + 30)
        time.sleep(0.5)  # past start-up, into waiting
        server = _ServerClock(backend, url)
        server_before = server.read() if server.read else 0.0
        before = _tree_cpu(worker.pid)
        start = time.perf_counter()
        store.enqueue_jobs([NewJob(id=f"w{procs}-{i}", command="true") for i in range(jobs)], 0)
        deadline = time.monotonic() + 600
        while store.count_jobs().by_state[JobState.COMPLETED] < jobs:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the projection's drain worker stopped or stalled")
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        after = _tree_cpu(worker.pid)
        server_after = server.read() if server.read else 0.0
    finally:
        store.close()
        worker.terminate()
        worker.wait()
    own = sum(cpu - before.get(pid, (0.0, 0.0))[0] for pid, (cpu, _) in after.items())
    jobs_cpu = sum(reaped - before.get(pid, (0.0, 0.0))[1] for pid, (_, reaped) in after.items())
    return jobs / elapsed, own / jobs, jobs_cpu / jobs, (server_after - server_before) / jobs


def _tree_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """(own, reaped children's) CPU seconds of each queuectl process from `pid` down.
    Jobs are reaped by the worker process that ran them, so a process's reaped time is
    its jobs' (worker processes stay up for the whole drain)."""
    found = {}
    for each in _descendants(pid):
        if _is_queuectl(each):
            try:
                found[each] = _stat(each)
            except OSError:
                continue
    return found


def _takes_procs() -> bool:
    done = subprocess.run(
        [*queuectl_command(), "worker", "start", "--help"],
        env=bench_env(),
        capture_output=True,
        check=False,
    )
    return b"--procs" in done.stdout


def measure(fresh: Fresh, backend: str, jobs: int) -> list[Figure]:
    """The per-job costs, the projected ceiling and cores, and the model checked against
    drains of 1 (and 2) worker processes measured here."""
    drains: dict[int, tuple[float, float, float, float]] = {}
    counts = [1, 2] if _takes_procs() else [1]
    for procs in counts:
        with fresh(f"projection_drain{procs}") as url:
            procs_arg = procs if len(counts) > 1 else None
            drains[procs] = worker_cost(url, backend, max(jobs, SERIAL_JOBS), procs_arg)
    _, per_worker, per_job, serial = drains[1]
    if backend == "sqlite":  # its cost runs inside the worker: timed on a loop of its own
        with fresh("projection_store") as url:
            serial, _ = store_cost(url, backend, max(jobs, SERIAL_JOBS))
    ceiling = 1 / serial if serial > 0 else float("inf")
    server = 0.0 if backend == "sqlite" else serial
    cores = os.cpu_count() or 1
    per_core = " per database core" if backend == "postgresql" else ""
    figures = [
        Figure("store serial cost", backend, "us/job", [serial * 1e6], note=_serial_note(backend)),
        Figure(
            "worker CPU", backend, "us/job", [per_worker * 1e6], note=f"one process, {SLOTS} slots"
        ),
        Figure("job CPU", backend, "us/job", [per_job * 1e6], note="/bin/sh -c true"),
        Figure("ceiling of one database", backend, "jobs/s", [ceiling], note=per_core.strip()),
        Figure(
            "worker cores to reach it",
            backend,
            "cores",
            [ceiling * (per_worker + per_job)],
            note="worker and job CPU, database elsewhere",
        ),
    ]
    for procs, (rate, _, _, _) in drains.items():
        predicted = min(procs / per_worker, cores / (per_worker + per_job + server), ceiling)
        figure = Figure(
            f"model check, {procs} process{'es' if procs > 1 else ''}",
            backend,
            "jobs/s",
            [rate],
            baseline=predicted,
            baseline_label="predicted",
            ratio=rate / predicted,
            note=f"{max(jobs, SERIAL_JOBS)} jobs, {cores} cores shared with the database",
        )
        figures.append(figure)
    return figures


def _serial_note(backend: str) -> str:
    return {
        "sqlite": "write lock held, claim + finish",
        "postgresql": "backends' CPU during the drain",
        "redis": "server CPU during the drain",
    }.get(backend, "")
