"""What every fault-injection test shares: worker fleets to kill, jobs that leave a trace,
the recovery every run ends with, and the invariants checked after it.

A job's command appends "<id> <attempt>" to a runs file (O_APPEND: short lines never mix)
and carries a marker unique to the test (a sleep length such as 0.1012345), so its
processes can be found in /proc whoever started them. The invariants compare three
sources: what was acknowledged, what the store recorded, and what actually ran.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from queuectl.errors import StoreError
from queuectl.models import FINAL_STATES, JobState, NewJob
from queuectl.store import Store
from tests.helpers import kill_matching, processes_matching, wait_for
from tests.own_postgres import children as children_of

T = TypeVar("T")
Popen = subprocess.Popen[bytes]

LOST = "worker lost (lease expired)"
MEMORY_BOUND_KIB = 200 * 1024  # a worker's peak RSS (VmHWM) must stay below this
CHAOS_SETTINGS = {
    "lease-seconds": "2",  # the shortest allowed: killed workers' jobs come back fast
    "max-retries": "1000",  # killed attempts are failures; no job may die of the storm
    "max-backoff": "0.2",
}


def chaos_rng(figures: Figures) -> random.Random:
    """A seeded RNG for the faults' timing and choice; QUEUECTL_CHAOS_SEED replays a run
    (the seed of each run is in its figures line)."""
    seed = int(os.environ.get("QUEUECTL_CHAOS_SEED") or random.randrange(10**6))
    figures.notes.append(f"seed {seed}")
    return random.Random(seed)


def new_marker(base: str = "0.1") -> str:
    """A sleep length unique to this test, e.g. 0.1034567: marks its job processes."""
    return f"{base}{secrets.randbelow(10**5):05d}"


def job_command(runs: Path, marker: str) -> str:
    return f'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {runs}; sleep {marker}'


def new_jobs(prefix: str, count: int, runs: Path, marker: str) -> list[NewJob]:
    command = job_command(runs, marker)
    return [NewJob(id=f"{prefix}{i}", command=command) for i in range(count)]


def tolerant(condition: Callable[[], T]) -> Callable[[], T | None]:
    """`condition`, reading None while the database is away (restarts, full disks)."""

    def check() -> T | None:
        try:
            return condition()
        except StoreError:
            return None

    return check


def queuectl(url: str, *args: str) -> list[str]:
    """The command line of `queuectl --db URL ARGS`."""
    return [sys.executable, "-m", "queuectl", "--db", url, *args]


def vm_hwm_kib(pid: int) -> int | None:
    """The peak resident memory of a live process, from /proc (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Figures:
    """One test's numbers, printed in the chaos summary at the end of the run."""

    name: str
    faults: Counter[str] = field(default_factory=Counter)
    jobs: int = 0
    lost: int = 0
    duplicates: int = 0  # extra runs (each explained by a recorded failed attempt)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.faults.items()))
        total = sum(self.faults.values())
        extra = f"; {'; '.join(self.notes)}" if self.notes else ""
        return (
            f"{self.name}: {total} faults ({kinds or 'none'}), {self.jobs} jobs, "
            f"lost {self.lost}, duplicates {self.duplicates}{extra}"
        )


class Fleet:
    """Worker supervisors as real processes, each in a process group of its own (so a
    whole group can be killed), their peak memory sampled while they live."""

    def __init__(self, url: str, tmp_path: Path, marker: str) -> None:
        self.url = url
        self.tmp_path = tmp_path
        self.marker = marker
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.peak_kib: dict[int, int] = {}
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def start(self, slots: int = 3, *args: str, stdin: int = subprocess.DEVNULL) -> Popen:
        """A supervisor in a session of its own. `stdin=subprocess.PIPE`: a stdin that
        never ends, as a terminal's (jobs must not inherit it)."""
        log = self.tmp_path / f"worker-{len(self.procs)}.log"
        command = queuectl(self.url, "worker", "start", "--count", str(slots), *args)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                command, stdout=out, stderr=out, stdin=stdin, start_new_session=True
            )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def assert_all_alive(self) -> None:
        """No worker gave up: every one started is still running."""
        dead = {p.pid: p.returncode for p in self.procs if p.poll() is not None}
        assert not dead, f"workers exited: {dead}\n{self.log_text()}"

    def _sample(self) -> None:
        while self._sampling:
            self.sample_once()
            time.sleep(0.05)

    def sample_once(self) -> None:
        for proc in list(self.procs):
            kib = vm_hwm_kib(proc.pid) if proc.poll() is None else None
            if kib is not None:
                self.peak_kib[proc.pid] = max(kib, self.peak_kib.get(proc.pid, 0))

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the supervisor alone: its running jobs (own sessions) are orphaned."""
        self.sample_once()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(30)

    def kill_host(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the supervisor's process group and every job's group at once, as when
        the machine or container dies."""
        self.sample_once()
        groups = {proc.pid}
        # Its jobs, and those of its processes when it runs its slots in several.
        found, descendants = children_of(proc.pid), []
        while found:
            child = found.pop()
            descendants.append(child)
            found += children_of(child)
        for child in descendants:
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(child))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        proc.wait(30)

    def job_pids(self) -> list[int]:
        return processes_matching(self.marker)

    def stop_all(self, timeout: float = 60) -> None:
        """Graceful stop of every live supervisor; each must exit 0."""
        live = self.alive()
        # One still starting up has no SIGTERM handler yet (and nothing to finish).
        started = {p.pid: log for p, log in zip(self.procs, self.logs, strict=True)}
        for proc in live:
            self.wait(lambda: "started:" in started[proc.pid].read_text(), "worker started")  # noqa: B023
        self.sample_once()
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                message = f"worker {proc.pid} ignored SIGTERM\n{self.log_text()}"
                raise AssertionError(message) from None
            assert code == 0, f"worker {proc.pid} exited {code}\n{self.log_text()}"

    def kill_all(self) -> None:
        for proc in self.alive():
            self.kill(proc)

    def log_text(self, tail: int = 40) -> str:
        """The end of the last few workers' logs, for failure messages."""
        parts = []
        for log in self.logs[-6:]:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            parts.append(f"--- {log.name} ---\n" + "\n".join(lines[-tail:]))
        return "\n".join(parts)

    def all_logs(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def wait(self, condition: Callable[[], T | None], what: str, timeout: float = 60) -> T:
        """wait_for, with the workers' logs in the failure message."""
        try:
            return wait_for(condition, timeout=timeout, what=what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.log_text()}") from None

    def close(self) -> None:
        self._sampling = False
        self._sampler.join(5)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        kill_matching(self.marker)


@contextlib.contextmanager
def fleet(url: str, tmp_path: Path, marker: str) -> Iterator[Fleet]:
    started = Fleet(url, tmp_path, marker)
    try:
        yield started
    finally:
        started.close()


def unfinished(store: Store) -> int:
    by_state = store.count_jobs().by_state
    return sum(n for state, n in by_state.items() if state not in FINAL_STATES)


def recover(store: Store, workers: Fleet, timeout: float = 90) -> None:
    """The end of every run: the live workers finish what is left and stop gracefully;
    then, with every worker gone, a burst worker waits out the leases, reaps and runs
    whatever is still due, and must exit 0."""
    if workers.alive():
        workers.wait(tolerant(lambda: unfinished(store) == 0), "every job final", timeout)
        workers.stop_all()
    burst = workers.start(2, "--burst")
    try:
        code = burst.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the burst worker did not drain\n{workers.log_text()}") from None
    assert code == 0, f"burst worker exited {code}\n{workers.log_text()}"


def check_invariants(
    store: Store,
    acknowledged: set[str],
    runs: Path,
    workers: Fleet,
    figures: Figures,
    forgetful: bool = False,
) -> None:
    """After `recover`: the guarantees, whatever the faults were. Fills in `figures`.

    `forgetful`: the faults could make the database forget workers' last commits (a crash
    of the PostgreSQL server: workers commit with synchronous_commit=off). A forgotten
    claim leaves no record of the run it started, so extra runs are counted, not required
    to be explained; everything else still holds."""
    jobs = {job.id: job for job in store.list_jobs()}
    figures.jobs = len(jobs)
    # None lost: every acknowledged job is there, and has ended.
    missing = acknowledged - set(jobs)
    figures.lost = len(missing)
    assert not missing, f"{len(missing)} acknowledged job(s) lost: {sorted(missing)[:10]}"
    # None stuck: with every worker gone and a burst worker done, nothing is processing
    # or due (a job scheduled for later is not due: some tests enqueue such jobs).
    now = store.now()
    open_jobs = {
        j.id: j.state
        for j in jobs.values()
        if j.state not in FINAL_STATES and not (j.state is JobState.PENDING and j.run_at > now)
    }
    assert not open_jobs, f"jobs not final after recovery: {dict(list(open_jobs.items())[:10])}"
    ran: dict[str, Counter[str]] = {}
    for line in runs.read_text().splitlines() if runs.exists() else []:
        run_id, attempt = line.split()
        ran.setdefault(run_id, Counter())[attempt] += 1
    extra = unexplained = 0
    for job_id, job in jobs.items():
        tries = store.list_attempts(job_id)
        records = Counter(str(a.attempt) for a in tries)
        successes = [a for a in tries if a.exit_code == 0 and a.error is None]
        failures = [a for a in tries if a.error is not None]
        # At most one recorded success; a completed job has exactly one, its last attempt.
        assert len(successes) <= 1, f"{job_id}: {len(successes)} successes recorded: {tries}"
        if job.state is JobState.COMPLETED:
            assert successes and tries[-1] == successes[0], f"{job_id}: {tries}"
        assert all(a.finished_at is not None for a in tries), f"{job_id}: open attempt {tries}"
        # Every run is an attempt the store recorded; every extra run, a recorded failure.
        runs_of_job = ran[job_id].total() if job_id in ran else 0
        extra += max(0, runs_of_job - 1)
        over = [a for a, n in ran.get(job_id, Counter()).items() if n > records[a]]
        if forgetful:
            unexplained += max(0, runs_of_job - len(successes) - len(failures))
            continue
        assert not over, f"{job_id}: attempt(s) {over} ran more often than recorded: {tries}"
        assert runs_of_job <= len(successes) + len(failures), (job_id, runs_of_job, tries)
    unknown = set(ran) - set(jobs)
    assert not unknown, f"runs of jobs the store does not know: {sorted(unknown)[:10]}"
    figures.duplicates = extra
    if forgetful:
        figures.notes.append(f"{unexplained} extra run(s) whose attempt record was forgotten")
    # No process left behind: every job process of this test ends (orphans of killed
    # supervisors finish their short sleep on their own).
    wait_for(lambda: not workers.job_pids(), timeout=30, what="no job process left")
    # Worker memory bounded.
    assert workers.peak_kib, "no worker memory was sampled"
    peak = max(workers.peak_kib.values())
    assert peak < MEMORY_BOUND_KIB, f"a worker peaked at {peak} KiB"
    figures.notes.append(f"worker peak RSS {peak // 1024} MiB")
