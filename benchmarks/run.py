"""Speed checks against the targets in the issues; prints one line per measurement.

    python benchmarks/run.py [--db URL] [--jobs 5000]

Not a test: timings on a shared 2-core machine are noisy, so the numbers are reported
(median of several runs where it is cheap), and the exit code says whether each target
was met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing import Pool
from pathlib import Path

from queuectl.models import JobState, NewJob
from queuectl.store import open_store

ROOT = Path(__file__).resolve().parent.parent
QUEUECTL = [sys.executable, "-m", "queuectl"]
RUN = uuid.uuid4().hex[:6]  # job ids unique per run, so --db can be reused


def median_ms(command: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def enqueue_startup(url: str) -> tuple[str, float, float]:
    # Measure with bytecode caches, as after a normal install (some shells disable them).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QUEUECTL_DB"] = url
    subprocess.run([*QUEUECTL, "--help"], check=True, stdout=subprocess.DEVNULL, env=env)
    bare = median_ms([sys.executable, "-c", "pass"], 20, env)
    script = str(Path(sys.executable).parent / "queuectl")
    enqueue = median_ms([script, "enqueue", '{"command":"true"}'], 20, env)
    return "queuectl enqueue wall time (median of 20)", enqueue, 80.0 + max(0.0, bare - 12)


def _spawn_many(count: int) -> None:
    for _ in range(count):
        subprocess.run(["/bin/sh", "-c", "true"], check=True)


def spawn_rate(count: int = 1000) -> float:
    start = time.perf_counter()
    with Pool(2) as pool:
        pool.map(_spawn_many, [count // 2, count // 2])
    return count / (time.perf_counter() - start)


def start_worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*QUEUECTL, "--db", url, "worker", "start", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def drain_rate(url: str, jobs: int) -> float:
    store = open_store(url)
    store.enqueue_jobs([NewJob(id=f"{RUN}-d{i}", command="true") for i in range(jobs)], 0)
    worker = start_worker(url, "--count", "2", "--burst")
    start = time.perf_counter()
    worker.wait()
    elapsed = time.perf_counter() - start
    done = sum(
        1
        for i in range(jobs)
        if (job := store.get_job(f"{RUN}-d{i}")) and job.state is JobState.COMPLETED
    )
    store.close()
    assert done == jobs, f"only {done} of {jobs} completed"
    return jobs / elapsed


def pickup_latency(url: str, samples: int = 40) -> tuple[float, float]:
    """Enqueue into an idle worker, one job at a time: p50 of claim time - enqueue time."""
    store = open_store(url)
    worker = start_worker(url)
    try:
        time.sleep(1.0)  # let it settle into idle
        delays = []
        for i in range(samples):
            store.enqueue_jobs([NewJob(id=f"{RUN}-l{i}", command="true")], 0)
            while (
                job := store.get_job(f"{RUN}-l{i}")
            ) is None or job.state is not JobState.COMPLETED:
                time.sleep(0.001)
            attempt = store.list_attempts(f"{RUN}-l{i}")[0]
            delays.append((attempt.started_at - job.created_at) * 1000)
            time.sleep(0.05)
        cpu = idle_cpu(worker.pid, 3.0)
    finally:
        worker.terminate()
        worker.wait()
        store.close()
    return statistics.median(delays), cpu


def idle_cpu(pid: int, seconds: float) -> float:
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before = ticks()
    time.sleep(seconds)
    return (ticks() - before) / os.sysconf("SC_CLK_TCK") / seconds * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--jobs", type=int, default=5000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="queuectl-bench-")

    def fresh(name: str) -> str:
        return args.db or os.path.join(workdir, f"{name}.db")

    ok = True
    label, value, target = enqueue_startup(fresh("startup"))
    ok &= value <= target
    print(f"{label}: {value:.1f} ms (target <= {target:.0f} ms)")

    p50, cpu = pickup_latency(fresh("latency"))
    ok &= p50 <= 5.0
    print(f"enqueue-to-start p50 on an idle worker: {p50:.2f} ms (target <= 5 ms)")
    print(f"idle worker CPU: {cpu:.1f}% of one core")

    spawn = spawn_rate()
    rate = drain_rate(fresh("drain"), args.jobs)
    ok &= rate >= 0.8 * spawn
    print(
        f"drain {args.jobs} `true` jobs with 2 slots: {rate:.0f} jobs/s "
        f"(target >= 0.8 x {spawn:.0f}/s spawn rate = {0.8 * spawn:.0f}/s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
