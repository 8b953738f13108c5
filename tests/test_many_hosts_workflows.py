"""Workflows on many hosts: three worker supervisors (separate `queuectl worker start`
processes, each its own pretend host) drain a random graph of 2,000 jobs on one
PostgreSQL database, one Redis key prefix and one SQLite file.

The graph has a fixed seed: each job runs after 0 to 3 earlier ones (half of them from
the 64 just before it, so the graph runs deep as well as wide), in after_mode completed
or finished, and about 3% of the jobs fail for good (`exit 1`, max_retries 0). It is
enqueued in one `queuectl enqueue --file`. Each job appends one line to a file itself:
its id, when it started and when it ended (`date +%s.%N`, taken by the job). From those
lines and the stores' final rows the test checks that
- every job ended as queuectl.workflow.outcome says it must, worked out here in Python
  from the graph and the failures alone (a cancelled job names, in cancelled_by and
  last_error, a job it runs after whose end it can never accept);
- every job ran at most once, and exactly the jobs that were to run did;
- no job started before each job it runs after had ended as its mode needs (a
  cancelled job "ended" when the job whose end cancelled it did).
A run that leaves jobs blocked with nothing else to do (a release lost) fails at once.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.models import FINAL_STATES, AfterMode, Job, JobState
from queuectl.store import Store, open_store
from queuectl.workflow import Outcome, cancel_note, outcome
from tests.conftest import BACKENDS as STORE_BACKENDS
from tests.test_many_hosts import Hosts, cli, registered, tolerant

pytestmark = [pytest.mark.slow]

SEED, JOBS, FAIL_SHARE = 20261206, 2000, 0.03
BACKENDS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("sqlite"),
]


@pytest.fixture(params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database, Redis key prefix or SQLite file (tests.conftest)."""
    fresh, _ = STORE_BACKENDS[request.param]
    with fresh(tmp_path) as url:
        yield url


class Graph:
    """The random graph: per job, the jobs it runs after, its mode, whether it fails."""

    def __init__(self, seed: int, count: int) -> None:
        rng = random.Random(seed)
        self.ids = [f"wf{i:04d}" for i in range(count)]
        self.after: dict[str, list[str]] = {}
        self.mode: dict[str, AfterMode] = {}
        self.fails: set[str] = set()
        for i, job_id in enumerate(self.ids):
            picked: set[int] = set()
            for _ in range(min(i, rng.randint(0, 3))):
                low = max(0, i - 64) if rng.random() < 0.5 else 0
                picked.add(rng.randrange(low, i))
            self.after[job_id] = [self.ids[p] for p in sorted(picked)]
            self.mode[job_id] = rng.choice([AfterMode.COMPLETED, AfterMode.FINISHED])
            if rng.random() < FAIL_SHARE:
                self.fails.add(job_id)

    def expected(self) -> dict[str, JobState]:
        """Every job's final state, by the rules (jobs come before those after them)."""
        final: dict[str, JobState] = {}
        for job_id in self.ids:
            seen = [outcome(final[p], self.mode[job_id]) for p in self.after[job_id]]
            if Outcome.NEVER in seen:
                final[job_id] = JobState.CANCELLED
            else:
                final[job_id] = JobState.DEAD if job_id in self.fails else JobState.COMPLETED
        return final

    def spec_lines(self, out: Path, marker: str) -> str:
        lines = []
        for job_id in self.ids:
            code = 1 if job_id in self.fails else 0
            command = (
                f"s=$(date +%s.%N); sleep {marker}; "
                f'echo "$QUEUECTL_JOB_ID $s $(date +%s.%N)" >> {out}; exit {code}'
            )
            spec: dict[str, object] = {"id": job_id, "command": command, "max_retries": 0}
            if self.after[job_id]:
                spec["after"] = self.after[job_id]
                spec["after_mode"] = self.mode[job_id].value
            lines.append(json.dumps(spec))
        return "\n".join(lines) + "\n"


def wait_all_ended(store: Store, hosts: Hosts, timeout: float) -> None:
    """Until every job has ended; fails at once (after 2 s of it) if blocked jobs are left
    with nothing running or claimable: a finish releases in its own transaction, so
    nothing else could ever release them."""
    stuck_since: list[float] = []

    def done() -> bool | None:
        counts = store.count_jobs()
        ended = sum(counts.by_state[s] for s in FINAL_STATES)
        if ended == JOBS:
            return True
        busy = counts.by_state[JobState.PROCESSING] + counts.by_state[JobState.FAILED]
        if busy == 0 and counts.blocked and counts.by_state[JobState.PENDING] == counts.blocked:
            stuck_since.append(time.monotonic())
            if stuck_since[-1] - stuck_since[0] > 2:
                raise AssertionError(
                    f"{counts.blocked} job(s) left blocked with nothing running: "
                    f"{counts.by_state}\n{hosts.log_text()}"
                )
        else:
            stuck_since.clear()
        return None

    hosts.wait(tolerant(done), what=f"all {JOBS} jobs ended", timeout=timeout)


def read_runs(out: Path) -> dict[str, tuple[float, float]]:
    """id -> (start, end) from the jobs' own lines; each id at most once."""
    lines = [line.split() for line in out.read_text().splitlines()]
    counts = Counter(words[0] for words in lines)
    twice = sorted(job_id for job_id, n in counts.items() if n > 1)
    assert not twice, f"jobs that ran more than once: {twice[:10]}"
    return {job_id: (float(start), float(end)) for job_id, start, end in lines}


def check_final_states(graph: Graph, jobs: dict[str, Job], expected: dict[str, JobState]) -> None:
    wrong = {
        job_id: (jobs[job_id].state.value, state.value)
        for job_id, state in expected.items()
        if jobs[job_id].state is not state
    }
    assert not wrong, f"{len(wrong)} job(s) not as the rules say (got, expected): {wrong}"
    for job_id, job in jobs.items():
        if job.state is JobState.CANCELLED:
            cause = job.cancelled_by
            assert cause in graph.after[job_id], f"{job_id}: cancelled_by {cause}"
            cause_state = jobs[cause].state
            assert outcome(cause_state, graph.mode[job_id]) is Outcome.NEVER, (job_id, cause)
            assert job.last_error == cancel_note(cause, cause_state), job
            assert job.attempts == 0, job
        else:
            assert job.attempts == 1, job


def check_order(graph: Graph, jobs: dict[str, Job], runs: dict[str, tuple[float, float]]) -> None:
    """No job started before each job it runs after had ended as its mode needs."""

    def ended_at(job_id: str) -> float:
        job = jobs[job_id]
        if job.state is JobState.CANCELLED:
            assert job.cancelled_by is not None
            return ended_at(job.cancelled_by)
        return runs[job_id][1]

    early = []
    for job_id, (start, _) in runs.items():
        for parent in graph.after[job_id]:
            seen = outcome(jobs[parent].state, graph.mode[job_id])
            assert seen is Outcome.MET, f"{job_id} ran after {parent}, which is {seen}"
            if start <= ended_at(parent):
                early.append((job_id, parent, start, ended_at(parent)))
    assert not early, f"{len(early)} job(s) started before a job they run after ended: {early}"


def test_three_hosts_drain_a_random_graph(shared_url: str, tmp_path: Path) -> None:
    graph = Graph(SEED, JOBS)
    expected = graph.expected()
    ends = Counter(expected.values())
    # The seed makes a graph that exercises every rule: deaths, cancels down the graph.
    assert ends[JobState.DEAD] >= 30 and ends[JobState.CANCELLED] >= 30, ends
    store = open_store(shared_url)
    hosts = Hosts(shared_url, tmp_path, f"0.01{secrets.randbelow(10**5):05d}")
    try:
        for name in ("host-a", "host-b", "host-c"):
            hosts.start(name, slots=4)
        registered(store, hosts)
        out = tmp_path / "ran.txt"
        specs = tmp_path / "graph.jsonl"
        specs.write_text(graph.spec_lines(out, hosts.marker))
        enqueued = cli(shared_url, "enqueue", "--file", str(specs))
        assert enqueued.returncode == 0, enqueued.stderr

        wait_all_ended(store, hosts, timeout=90)
        jobs = {job.id: job for job in store.list_jobs()}
        assert set(jobs) == set(graph.ids)
        check_final_states(graph, jobs, expected)
        runs = read_runs(out)
        to_run = {job_id for job_id, state in expected.items() if state is not JobState.CANCELLED}
        assert set(runs) == to_run, sorted(set(runs) ^ to_run)[:10]
        check_order(graph, jobs, runs)
        stopped = cli(shared_url, "worker", "stop", "--timeout", "30")
        assert stopped.returncode == 0, stopped.stderr + hosts.log_text()
    finally:
        hosts.cleanup()
        store.close()
