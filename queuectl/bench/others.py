"""Other queues on the same work, when installed: RQ (with the local Redis),
task-spooler (`tsp`) and GNU parallel. Skipped quietly when absent."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from queuectl.bench import Figure
from queuectl.bench.backends import REDIS_DEFAULT, redis_answers
from queuectl.bench.procs import ratio_figure, spawn_limit


def measure(jobs: int, runs: int) -> list[Figure]:
    figures = []
    if importlib.util.find_spec("rq") is not None and redis_answers(_rq_url()):
        figures.append(_rq_drain(jobs, runs))
    if shutil.which("tsp"):
        figures.append(_tsp_end_to_end(jobs, runs))
    if shutil.which("parallel"):
        figures.append(_parallel_drain(jobs, runs))
    return figures


def _rq_url() -> str:
    return os.environ.get("QUEUECTL_BENCH_REDIS") or REDIS_DEFAULT


def _beside_spawn_limit(
    name: str, backend: str, jobs: int, runs: int, run: Callable[[], float]
) -> Figure:
    """`runs` runs of `run` (the seconds `jobs` jobs took), each after the spawn limit
    measured just before it: jobs/s, beside the median limit."""
    rates, limits = [], []
    for _ in range(runs):
        limits.append(spawn_limit(jobs))
        rates.append(jobs / run())
    figure = Figure(name, backend, "jobs/s", rates, note=f"{jobs} jobs")
    return ratio_figure(figure, sorted(limits)[len(limits) // 2], "spawn limit")


def _rq_drain(jobs: int, runs: int) -> Figure:
    """RQ with 2 burst workers (forking) on `jobs` calls of `/bin/sh -c true`."""
    from redis import Redis  # type: ignore[import-not-found,unused-ignore]
    from rq import Queue  # type: ignore[import-not-found,unused-ignore]

    url = _rq_url()
    connection = Redis.from_url(url)

    def run() -> float:
        connection.flushdb()
        queue = Queue("bench", connection=connection)
        for _ in range(jobs):
            queue.enqueue(subprocess.call, ["/bin/sh", "-c", "true"])
        start = time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", url, "-q", "bench"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.wait()
        return time.perf_counter() - start

    figure = _beside_spawn_limit("drain, RQ", "redis", jobs, runs, run)
    connection.flushdb()
    return figure


def _tsp_end_to_end(jobs: int, runs: int) -> Figure:
    """task-spooler with 2 slots, end to end: `jobs` `tsp true` calls, then waiting."""

    def run() -> float:
        with tempfile.TemporaryDirectory(prefix="queuectl-tsp-") as folder:
            env = {**os.environ, "TS_SOCKET": os.path.join(folder, "socket"), "TS_SLOTS": "2"}
            env["TMPDIR"] = folder
            start = time.perf_counter()
            loop = 'i=0; while [ "$i" -lt "$1" ]; do tsp -n true >/dev/null; i=$((i+1)); done'
            subprocess.run(["sh", "-c", loop, "sh", str(jobs)], env=env, check=True)
            subprocess.run(["tsp", "-w"], check=False, env=env, stdout=subprocess.DEVNULL)
            elapsed = time.perf_counter() - start
            subprocess.run(["tsp", "-K"], check=False, env=env, stderr=subprocess.DEVNULL)
            return elapsed

    return _beside_spawn_limit("end to end, task-spooler", "-", jobs, runs, run)


def _parallel_drain(jobs: int, runs: int) -> Figure:
    """GNU parallel with 2 slots on `jobs` lines of `true` (each run by `/bin/sh -c`, as
    a queuectl job is): one process that runs shell commands, with no queue kept."""
    lines = b"true\n" * jobs

    def run() -> float:
        with tempfile.TemporaryDirectory(prefix="queuectl-parallel-") as home:
            env = {**os.environ, "HOME": home, "PARALLEL_SHELL": "/bin/sh"}
            start = time.perf_counter()
            subprocess.run(
                ["parallel", "--will-cite", "-j2"],
                input=lines,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            return time.perf_counter() - start

    return _beside_spawn_limit("drain, GNU parallel -j2", "-", jobs, runs, run)
