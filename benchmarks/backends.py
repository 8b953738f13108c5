"""The backends side by side: drain rate, pickup latency, bulk enqueue rate, `status` time.

    python benchmarks/backends.py [--jobs 5000] [--bulk 50000] [--status-jobs 1000000]
                                  [--redis URL] [--postgres URL]

SQLite runs on fresh files; Redis (default redis://127.0.0.1:6379/0) on fresh key
prefixes, deleted afterwards; PostgreSQL only when given a URL (its jobs are left there).
Not a test: the numbers are printed, one line per backend and measurement, for the README.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import drain_rate, pickup_latency

from queuectl import service
from queuectl.models import NewJob
from queuectl.store import open_store

BATCH = 1000  # jobs per enqueue_jobs call, as `queuectl enqueue --file` sends them


def bulk_enqueue_rate(url: str, count: int) -> float:
    store = open_store(url)
    tag = secrets.token_hex(3)
    try:
        start = time.perf_counter()
        for first in range(0, count, BATCH):
            batch = range(first, min(first + BATCH, count))
            store.enqueue_jobs([NewJob(id=f"b{tag}-{i}", command="true") for i in batch], 3)
        return count / (time.perf_counter() - start)
    finally:
        store.close()


def status_seconds(url: str, count: int) -> float:
    """Median time of `status` (counts, per-queue stats, workers) with `count` jobs."""
    store = open_store(url)
    tag = secrets.token_hex(3)
    try:
        for first in range(0, count, 10 * BATCH):
            batch = range(first, min(first + 10 * BATCH, count))
            queue = f"q{first // 100_000}"  # a few queues, as in real use
            store.enqueue_jobs(
                [NewJob(id=f"s{tag}-{i}", command="true", queue=queue) for i in batch], 3
            )
        times = []
        for _ in range(5):
            start = time.perf_counter()
            service.status(store)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--status-jobs", type=int, default=1_000_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="queuectl-bench-")
    prefixes: list[str] = []

    def sqlite(name: str) -> str:
        return os.path.join(workdir, f"{name}-{secrets.token_hex(3)}.db")

    def redis(name: str) -> str:
        prefix = f"queuectl_bench_{secrets.token_hex(4)}_{name}:"
        prefixes.append(prefix)
        return f"{args.redis}{'&' if '?' in args.redis else '?'}prefix={prefix}"

    backends: dict[str, Callable[[str], str]] = {"sqlite": sqlite, "redis": redis}
    if args.postgres:
        backends["postgres"] = lambda name: args.postgres
    try:
        for backend, fresh in backends.items():
            rate = drain_rate(fresh("drain"), args.jobs)
            print(f"{backend}: drain {args.jobs} `true` jobs, 2 slots: {rate:.0f} jobs/s")
            p50, cpu = pickup_latency(fresh("latency"))
            print(f"{backend}: enqueue-to-start p50 {p50:.2f} ms; idle worker CPU {cpu:.1f}%")
            bulk = bulk_enqueue_rate(fresh("bulk"), args.bulk)
            print(f"{backend}: bulk enqueue ({BATCH} a call): {bulk:.0f} jobs/s")
            if args.status_jobs:
                took = status_seconds(fresh("status"), args.status_jobs)
                print(f"{backend}: status with {args.status_jobs} jobs: {took * 1000:.1f} ms")
    finally:
        if prefixes:
            import redis as driver

            with driver.Redis.from_url(args.redis) as client:
                for prefix in prefixes:
                    keys = list(client.scan_iter(match=prefix + "*", count=10_000))
                    for start in range(0, len(keys), 10_000):
                        client.delete(*keys[start : start + 10_000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
