"""Figures about running jobs: drain, slot efficiency, pickup latency, idle CPU."""

from __future__ import annotations

import socket
import subprocess
import time

from queuectl.bench import Figure
from queuectl.bench.procs import (
    bench_env,
    capture_limit,
    cpu_seconds,
    queuectl_command,
    ratio_figure,
    spawn_limit,
    start_worker,
)
from queuectl.models import JobState, NewJob
from queuectl.store import open_store
from queuectl.worker_members import member_pids


def enqueue_all(url: str, jobs: list[NewJob]) -> None:
    store = open_store(url)
    try:
        for start in range(0, len(jobs), 10_000):
            store.enqueue_jobs(jobs[start : start + 10_000], 0)
    finally:
        store.close()


def _completed(url: str) -> int:
    store = open_store(url)
    try:
        return store.count_jobs().by_state[JobState.COMPLETED]
    finally:
        store.close()


def _drain_once(url: str, jobs: list[NewJob], procs: int) -> float:
    """Jobs/s of one `worker start --count 2 --procs PROCS --burst` over `jobs`."""
    enqueue_all(url, jobs)
    start = time.perf_counter()
    if start_worker(url, "--count", "2", "--procs", str(procs), "--burst").wait() != 0:
        raise RuntimeError("the drain worker failed")
    return len(jobs) / (time.perf_counter() - start)


def drain(url: str, backend: str, jobs: int, runs: int) -> list[Figure]:
    """`worker start --count 2 --burst` over `jobs` `true` jobs, in 2 processes and in 1,
    beside the spawn limit measured just before each run; the two drains of a run one
    after the other (in turn first), so their ratio is taken on the same machine load.
    And a bare capture loop's rate (procs.capture_limit), which parts the gap into what
    running a job costs and what the queue adds."""
    rates, singles, ratios, limits, captures = [], [], [], [], []
    for run in range(runs):
        limits.append(spawn_limit(jobs))
        captures.append(capture_limit(jobs))
        made = {
            p: [NewJob(id=f"d{run}-{p}-{i}", command="true") for i in range(jobs)] for p in (1, 2)
        }
        order = (2, 1) if run % 2 else (1, 2)
        rate = {procs: _drain_once(url, made[procs], procs) for procs in order}
        rates.append(rate[2])
        singles.append(rate[1])
        ratios.append(rate[2] / rate[1])
    done = _completed(url)
    if done != 2 * jobs * runs:
        raise RuntimeError(f"drain: {done} of {2 * jobs * runs} jobs completed")
    limit = 0.7 if backend == "postgresql" else 0.8
    spawned = sorted(limits)[len(limits) // 2]
    capture = Figure("capture loop", backend, "jobs/s", captures, note="2 slots, no queue")
    ratio_figure(capture, spawned, "spawn limit")
    note = f"{jobs} jobs, 2 slots"
    figure = Figure(
        "drain",
        backend,
        "jobs/s",
        rates,
        target=f">= {limit} x spawn limit",
        note=f"{note}, 2 processes",
    )
    single = Figure("drain, 1 process", backend, "jobs/s", singles, note=f"{note}, --procs 1")
    ratio_figure(single, spawned, "spawn limit")
    versus = Figure(
        "drain with 2 processes vs 1",
        backend,
        "x",
        ratios,
        target=">= 1.7 x",
        note="median of each run's own ratio",
    )
    versus.met = versus.median >= 1.7
    return [capture, ratio_figure(figure, spawned, "spawn limit", limit, True), single, versus]


def slots(url: str, backend: str, jobs: int, runs: int) -> Figure:
    """3 supervisors x 8 slots on one database running `sleep 0.05` jobs; ideal 480/s."""
    rates = []
    for run in range(runs):
        enqueue_all(url, [NewJob(id=f"s{run}-{i}", command="sleep 0.05") for i in range(jobs)])
        start = time.perf_counter()
        workers = [start_worker(url, "--count", "8", "--burst") for _ in range(3)]
        if any(worker.wait() != 0 for worker in workers):
            raise RuntimeError("a slot-efficiency worker failed")
        rates.append(jobs / (time.perf_counter() - start))
    figure = Figure(
        "slot efficiency", backend, "jobs/s", rates, target=">= 0.9 x ideal", note=f"{jobs} jobs"
    )
    return ratio_figure(figure, 24 / 0.05, "ideal 3x8 slots", 0.9, True)


def wait_registered(url: str, pid: int, deadline: float) -> None:
    store = open_store(url)
    try:
        while not any(w.pid == pid for w in store.list_workers()):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not register in time")
            time.sleep(0.02)
    finally:
        store.close()


def pickup(url: str, backend: str, samples: int) -> list[Figure]:
    """Enqueue to job start on an idle worker: p50 and p99 over `samples` jobs, one at a
    time, from the job's created_at (stamped just before the enqueue commits, so the
    commit counts against us) to its attempt's started_at (stamped by the worker)."""
    worker = start_worker(url, "--count", "1")
    store = open_store(url)
    delays = []
    try:
        wait_registered(url, worker.pid, time.monotonic() + 30)
        time.sleep(0.5)  # let it settle into waiting
        for i in range(samples):
            store.enqueue_jobs([NewJob(id=f"p{i}", command="true")], 0)
            deadline = time.monotonic() + 10
            while not (attempts := store.list_attempts(f"p{i}")):
                if time.monotonic() > deadline:
                    raise RuntimeError("pickup: the job did not start")
                time.sleep(0.0005)
            job = store.get_job(f"p{i}")
            assert job is not None
            delays.append((attempts[0].started_at - job.created_at) * 1000)
            time.sleep(0.02)
    finally:
        worker.terminate()
        worker.wait()
        store.close()
    ordered = sorted(delays)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return [
        Figure("pickup p50", backend, "ms", [p50], target="<= 2 ms", met=p50 <= 2.0),
        Figure("pickup p99", backend, "ms", [p99], target="<= 20 ms", met=p99 <= 20.0),
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not start listening") from None
            time.sleep(0.05)


def idle(url: str, backend: str, seconds: float) -> list[Figure]:
    """CPU share of one core used by an idle worker supervisor and an idle `serve`, read
    from /proc/<pid>/stat over the same `seconds`."""
    port = _free_port()
    worker = start_worker(url, "--count", "2")
    serve = subprocess.Popen(
        [*queuectl_command(), "serve", "--port", str(port)],
        env=bench_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_registered(url, worker.pid, time.monotonic() + 30)
        _wait_listening(port, time.monotonic() + 30)
        time.sleep(1.0)  # past start-up
        # A worker in several processes (supervisor.py) counts all of them.
        members = {worker.pid: [worker.pid, *member_pids(worker.pid)], serve.pid: [serve.pid]}
        before = {pid: sum(map(cpu_seconds, pids)) for pid, pids in members.items()}
        time.sleep(seconds)
        used = {
            pid: (sum(map(cpu_seconds, members[pid])) - cpu) / seconds * 100
            for pid, cpu in before.items()
        }
    finally:
        for process in (worker, serve):
            process.terminate()
            process.wait()
    return [
        Figure(
            f"idle CPU {name}",
            backend,
            "% of a core",
            [used[process.pid]],
            target="<= 0.5%",
            met=used[process.pid] <= 0.5,
        )
        for name, process in (("worker", worker), ("serve", serve))
    ]
