"""Limits on many hosts: three worker supervisors of 8 slots each (separate `queuectl worker
start --count 8` processes, each its own pretend host) against one PostgreSQL database,
one Redis key prefix and one SQLite file, with far more slots than a limit allows.

- A queue with concurrency 2, and a concurrency key with limit 2 whose jobs are spread
  over three queues: another connection samples the running count every few
  milliseconds, and each job stamps its own start and end (`date +%s.%N`, taken by the
  job). Never more than 2 at once by either, and the run takes close to what 2 slots
  need (the limit is not starving the queue).
- A supervisor SIGKILLed while its job holds the only slot of a queue and of a key: once
  its lease expires another host reaps the job and the queue and key run again.
- A queue with a rate of 5/s: its starts, as the store recorded them and as the jobs
  stamped them, never come more than 5 in a second, and never closer together than the
  interval (the stored ones), whatever 24 slots want.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queuectl.errors import StoreError
from queuectl.limits import Rate
from queuectl.models import JobState
from queuectl.store import Store, open_store
from tests.conftest import BACKENDS as STORE_BACKENDS
from tests.test_many_hosts import Hosts, cli, registered, tolerant

pytestmark = [pytest.mark.slow]

BACKENDS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("sqlite"),
]
JOBS, RUN_FOR, LIMIT = 30, 0.2, 2  # 30 jobs of 0.2 s, 2 at once: 3 s of work


@pytest.fixture(params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database, Redis key prefix or SQLite file (tests.conftest)."""
    fresh, _ = STORE_BACKENDS[request.param]
    with fresh(tmp_path) as url:
        yield url


@pytest.fixture
def hosts(shared_url: str, tmp_path: Path) -> Iterator[Hosts]:
    started = Hosts(shared_url, tmp_path, f"0.01{secrets.randbelow(10**5):05d}")
    try:
        yield started
    finally:
        started.cleanup()


class Sampler:
    """Reads a running count from its own connection every few milliseconds."""

    def __init__(self, url: str, read: Callable[[Store], int]) -> None:
        self.store = open_store(url)
        self.read = read
        self.seen: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            with contextlib.suppress(StoreError):  # a sample lost to a busy database
                self.seen.append(self.read(self.store))
            self.done.wait(0.003)

    def stop(self) -> list[int]:
        self.done.set()
        self.thread.join(10)
        self.store.close()
        return self.seen


def spec(job_id: str, out: Path, marker: str, run_for: float, **fields: object) -> str:
    command = (
        f"s=$(date +%s.%N); sleep {marker}; sleep {run_for}; "
        f'echo "$QUEUECTL_JOB_ID $s $(date +%s.%N)" >> {out}'
    )
    return json.dumps({"id": job_id, "command": command, **fields})


def read_runs(out: Path) -> dict[str, tuple[float, float]]:
    runs = {}
    for line in out.read_text().splitlines():
        job_id, start, end = line.split()
        assert job_id not in runs, f"{job_id} ran twice"
        runs[job_id] = (float(start), float(end))
    return runs


def most_at_once(runs: dict[str, tuple[float, float]]) -> int:
    """The most runs overlapping at any instant (an end before a start at the same time)."""
    events = sorted([(s, 1) for s, _ in runs.values()] + [(e, -1) for _, e in runs.values()])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def start_hosts(url: str, hosts: Hosts, store: Store) -> None:
    for name in ("host-a", "host-b", "host-c"):
        hosts.start(name, slots=8)
    registered(store, hosts)


def drain(url: str, hosts: Hosts, store: Store, ids: list[str], timeout: float) -> None:
    def done() -> bool:
        return all(j.state is JobState.COMPLETED for j in store.get_jobs(ids).values())

    hosts.wait(tolerant(done), what=f"all {len(ids)} jobs completed", timeout=timeout)
    stopped = cli(url, "worker", "stop", "--timeout", "30")
    assert stopped.returncode == 0, stopped.stderr + hosts.log_text()


@pytest.mark.parametrize("limit_by", ["queue", "key"])
def test_24_slots_never_run_more_than_the_limit(
    shared_url: str, hosts: Hosts, tmp_path: Path, limit_by: str
) -> None:
    store = open_store(shared_url)
    out, specs = tmp_path / "ran.txt", tmp_path / "jobs.jsonl"
    ids = [f"j{i:03d}" for i in range(JOBS)]
    if limit_by == "queue":
        assert cli(shared_url, "queue", "set", "video", "--concurrency", "2").returncode == 0
        lines = [spec(i, out, hosts.marker, RUN_FOR, queue="video") for i in ids]

        def running(s: Store) -> int:
            return s.count_jobs("video").by_state[JobState.PROCESSING]
    else:
        made = cli(shared_url, "queue", "set-key", "deploy-prod", "--concurrency", "2")
        assert made.returncode == 0, made.stderr
        lines = [
            spec(i, out, hosts.marker, RUN_FOR, queue=f"q{n % 3}", concurrency_key="deploy-prod")
            for n, i in enumerate(ids)
        ]

        def running(s: Store) -> int:
            found = s.key_limits(["deploy-prod"])
            return found[0].running if found else 0

    specs.write_text("\n".join(lines) + "\n")
    sampler = None
    try:
        start_hosts(shared_url, hosts, store)
        sampler = Sampler(shared_url, running)
        enqueued = cli(shared_url, "enqueue", "--file", str(specs))
        assert enqueued.returncode == 0, enqueued.stderr
        drain(shared_url, hosts, store, ids, timeout=60)
        seen = sampler.stop()
        runs = read_runs(out)
        assert sorted(runs) == ids
        assert most_at_once(runs) <= LIMIT, sorted(runs.values())
        assert max(seen) <= LIMIT and len(seen) > 50, (max(seen), len(seen))
        assert max(seen) == LIMIT  # the limit was reached, not just respected
        assert running(store) == 0  # `worker stop` ended with no slot held
        first = min(s for s, _ in runs.values())
        last = max(e for _, e in runs.values())
        ideal = JOBS * RUN_FOR / LIMIT
        # Close to 2 slots' worth: the process start and the claim after each end add a
        # little to each run, never a wait on other jobs' slots.
        assert last - first < ideal * 1.6 + 1.5, (last - first, ideal)
    finally:
        if sampler is not None:
            sampler.stop()
        store.close()


def test_a_rate_spaces_starts_across_hosts(shared_url: str, hosts: Hosts, tmp_path: Path) -> None:
    store = open_store(shared_url)
    out, specs = tmp_path / "ran.txt", tmp_path / "jobs.jsonl"
    count, rate = 15, Rate(5, 1.0)
    ids = [f"m{i:03d}" for i in range(count)]
    specs.write_text("\n".join(spec(i, out, hosts.marker, 0, queue="mail") for i in ids) + "\n")
    try:
        assert cli(shared_url, "queue", "set", "mail", "--rate", "5/s").returncode == 0
        start_hosts(shared_url, hosts, store)
        enqueued = cli(shared_url, "enqueue", "--file", str(specs))
        assert enqueued.returncode == 0, enqueued.stderr
        drain(shared_url, hosts, store, ids, timeout=60)
        # As the store recorded them (its clock, at the claim): never closer than 1/5 s.
        claimed = sorted(store.list_attempts(i)[0].started_at for i in ids)
        gaps = [b - a for a, b in itertools.pairwise(claimed)]
        assert min(gaps) >= rate.interval - 0.01, gaps
        # As the jobs stamped them: at most 5 in any second (and a start's own process
        # start may lag its claim by a little, so one more at a window's edge).
        starts = sorted(s for s, _ in read_runs(out).values())
        for i, start in enumerate(starts):
            in_window = sum(1 for s in starts[i:] if s < start + rate.period)
            assert in_window <= rate.count + 1, (start, starts)
        # And the rate is met, not starved: 15 starts at 5/s take about 2.8 s.
        took = starts[-1] - starts[0]
        assert took < (count - 1) * rate.interval * 1.3 + 0.5, (took, starts)
    finally:
        store.close()


def test_a_killed_worker_gives_its_slot_back_when_its_lease_is_reaped(
    shared_url: str, hosts: Hosts, tmp_path: Path
) -> None:
    store = open_store(shared_url)
    out, specs = tmp_path / "ran.txt", tmp_path / "jobs.jsonl"
    try:
        store.set_config("lease-seconds", "2")
        store.set_queue_limit("video", 1, None)
        held = spec("hold", out, hosts.marker, 600, queue="video", concurrency_key="gpu")
        specs.write_text(held.replace('"command"', '"max_retries": 0, "command"', 1) + "\n")
        assert cli(shared_url, "enqueue", "--file", str(specs)).returncode == 0
        victim = hosts.start("host-a", slots=2)
        hosts.wait(
            lambda: (j := store.get_job("hold")) is not None and j.state is JobState.PROCESSING,
            what="the long job to start",
        )
        later = [spec(f"v{i}", out, hosts.marker, 0, queue="video") for i in range(3)]
        later += [
            spec(f"g{i}", out, hosts.marker, 0, queue=f"q{i}", concurrency_key="gpu")
            for i in range(3)
        ]
        specs.write_text("\n".join(later) + "\n")
        assert cli(shared_url, "enqueue", "--file", str(specs)).returncode == 0
        victim.kill()  # SIGKILL: it records nothing and hands nothing back
        victim.wait(10)
        hosts.start("host-b", slots=4)
        ids = ["v0", "v1", "v2", "g0", "g1", "g2"]
        drain(shared_url, hosts, store, ids, timeout=60)
        hold = store.get_job("hold")
        assert hold is not None and hold.state is JobState.DEAD, hold
        assert store.count_jobs("video").by_state[JobState.PROCESSING] == 0
        assert store.key_limits(["gpu"]) == []  # no job holds it, none waits for it
    finally:
        store.close()
