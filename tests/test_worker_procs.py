"""A worker in several processes (`worker start --procs P`, supervisor.py): one worker to
see and stop, its jobs each run once, a killed process replaced and its job retried."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from queuectl.models import JobState, NewJob
from queuectl.store import Store, open_store
from queuectl.worker_members import member_pids
from tests.helpers import kill_matching, processes_matching, start_worker, stop, wait_for

pytestmark = [pytest.mark.not_fast, pytest.mark.shared_store]  # real worker processes


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _enqueue(store: Store, *jobs: tuple[str, str]) -> None:
    new = [NewJob(id=job_id, command=command, max_retries=3) for job_id, command in jobs]
    store.enqueue_jobs(new, 0)


def _state(store: Store, job_id: str) -> JobState | None:
    job = store.get_job(job_id)
    return None if job is None else job.state


def _parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^PPid:\s+(\d+)$", status, re.M)
    assert found is not None
    return int(found[1])


def _gone(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def test_two_processes_drain_a_burst_each_job_once(store_url: str, tmp_path: Path) -> None:
    """Every job runs exactly once, in both processes (the shell's parent is the process
    that ran it), and the burst run ends when the queue is empty across them."""
    runs = tmp_path / "runs"
    store = open_store(store_url)
    try:
        command = f'echo "$QUEUECTL_JOB_ID $PPID" >> {runs}; sleep 0.05'
        _enqueue(store, *((f"j{i}", command) for i in range(40)))
        burst = _cli(store_url, "worker", "start", "--count", "4", "--procs", "2", "--burst")
        assert burst.returncode == 0, burst.stderr
        counts = store.count_jobs().by_state
        assert counts[JobState.COMPLETED] == 40, counts
        lines = [line.split() for line in runs.read_text().splitlines()]
        assert Counter(job for job, _ in lines) == Counter(f"j{i}" for i in range(40))
        assert len({parent for _, parent in lines}) == 2  # both processes ran jobs
        assert "4 slot(s) in 2 processes" in burst.stderr
        assert burst.stderr.rstrip().endswith("40 completed, 0 failed, 0 dead"), burst.stderr
        assert store.list_workers() == []  # the supervisor left the registry
    finally:
        store.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_burst_waits_for_the_jobs_of_every_process(store_url: str, tmp_path: Path) -> None:
    """One process has nothing left to run while the other still runs a job: the burst
    run ends only once that job is recorded."""
    store = open_store(store_url)
    try:
        _enqueue(store, ("quick", "true"), ("slow", "sleep 1.5"))
        burst = _cli(store_url, "worker", "start", "--count", "2", "--procs", "2", "--burst")
        assert burst.returncode == 0, burst.stderr
        slow = store.get_job("slow")
        assert slow is not None and slow.state is JobState.COMPLETED
        assert "burst: no job left to run" in burst.stderr
    finally:
        store.close()


def test_a_process_writes_its_held_lines_while_its_job_runs(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """A process holds its log lines (held_log.py) for a moment, not until it exits:
    the `started` line of a long job is in the log while the job runs."""
    log, done = tmp_path / "w.log", tmp_path / "done"
    command = f"until [ -e {done} ]; do sleep 0.05; done"
    worker = start_worker(store_url, log, "--count", "2", "--procs", "2")
    try:
        _enqueue(store, ("long", command))
        wait_for(lambda: f"job long attempt 1 started: {command}" in log.read_text(), timeout=30)
        assert _state(store, "long") is JobState.PROCESSING
    finally:
        done.touch()
        stop(worker)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_worker_list_and_stop_see_one_worker(store_url: str, tmp_path: Path) -> None:
    """`worker list` shows one worker (the supervisor's pid) with its two processes;
    `worker stop` stops both gracefully: their running jobs finish and are recorded."""
    marker = f"{tmp_path.name}-list"
    store = open_store(store_url)
    worker = start_worker(store_url, tmp_path / "worker.log", "--count", "2", "--procs", "2")
    try:
        command = f"sleep 5 # {marker}; echo done"  # running while the checks look
        _enqueue(store, ("a", command), ("b", command))
        wait_for(
            lambda: sum(j.state is JobState.PROCESSING for j in store.list_jobs()) == 2,
            what="both jobs running",
        )
        listed = _cli(store_url, "worker", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        [shown] = json.loads(listed.stdout)
        assert shown["pid"] == worker.pid
        assert sorted(shown["processes"]) == sorted(member_pids(worker.pid))
        assert len(shown["processes"]) == 2
        children = shown["processes"]
        # Each runs one of the jobs: the shells' parents are the two processes.
        shells = processes_matching(marker)
        assert {_parent_of(pid) for pid in shells} == set(children)
        table = _cli(store_url, "worker", "list").stdout
        assert len(table.strip().splitlines()) == 2  # the header and one worker
        assert f"2 (pids {' '.join(map(str, children))})" in table

        stopped = _cli(store_url, "worker", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped 1 worker(s)" in stopped.stdout
        assert worker.wait(60) == 0
        for job_id in ("a", "b"):
            job = store.get_job(job_id)
            assert job is not None and job.state is JobState.COMPLETED, job
        assert all(_gone(pid) for pid in children)
        assert store.list_workers() == []
        log = (tmp_path / "worker.log").read_text()
        assert "stopped: graceful stop" in log
        assert log.rstrip().endswith("2 completed, 0 failed, 0 dead"), log
    finally:
        stop(worker)
        kill_matching(marker)
        store.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_second_signal_stops_every_process_at_once(store_url: str, tmp_path: Path) -> None:
    """SIGTERM twice to the supervisor: each process gets both, so the running jobs are
    killed and handed back, their attempts not counted, as with one process."""
    marker = f"{tmp_path.name}-twice"
    store = open_store(store_url)
    worker = start_worker(store_url, tmp_path / "worker.log", "--count", "2", "--procs", "2")
    try:
        command = f"sleep 300 # {marker}"
        _enqueue(store, ("a", command), ("b", command))
        wait_for(lambda: len(processes_matching(marker)) == 2, what="both jobs running")
        worker.send_signal(signal.SIGTERM)
        log = tmp_path / "worker.log"
        wait_for(lambda: log.read_text().count("stopping: waiting") == 2, what="both stopping")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        for job_id in ("a", "b"):
            job = store.get_job(job_id)
            assert job is not None and job.state is JobState.PENDING and job.attempts == 0
        assert "2 released" in (tmp_path / "worker.log").read_text()
    finally:
        stop(worker)
        kill_matching(marker)
        store.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_killed_process_is_replaced_and_its_job_retried(store_url: str, tmp_path: Path) -> None:
    """SIGKILL to the process running a job: the supervisor starts another in its place,
    and the job runs again once its lease has expired (lease-seconds 2)."""
    marker = f"300.{secrets.randbelow(10**9):09d}"  # a sleep of its own: killed after
    store = open_store(store_url)
    store.set_config("lease-seconds", "2")
    log = tmp_path / "worker.log"
    worker = start_worker(store_url, log, "--count", "2", "--procs", "2")
    try:
        command = f'if [ "$QUEUECTL_ATTEMPT" = 1 ]; then sleep {marker}; fi'
        _enqueue(store, ("victim", command))
        wait_for(lambda: processes_matching(marker), what="the job running")
        before = member_pids(worker.pid)
        parents = {_parent_of(pid) for pid in processes_matching(marker)}
        [victim] = parents & set(before)  # the process whose shell runs the job
        assert victim in before and len(before) == 2
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: len(now := member_pids(worker.pid)) == 2 and victim not in now,
            what="a process in its place",
        )
        wait_for(lambda: _state(store, "victim") is JobState.COMPLETED, what="the job retried")
        done = store.get_job("victim")
        assert done is not None and done.attempts == 2  # the killed one counted (lease expired)
        assert "killed by SIGKILL; starting another" in log.read_text()
        [shown] = store.list_workers()  # still one worker
        assert shown.pid == worker.pid
        assert stop(worker) == 0
    finally:
        stop(worker)
        kill_matching(marker)
        store.close()


def _database_fds(pid: int, database: str) -> int:
    """How many of `pid`'s descriptors are open on the SQLite database's files."""
    found = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            found += os.readlink(fd).startswith(database)
    return found


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("count_from", ["option", "config"])
def test_the_first_processes_are_forked_holding_nothing_of_the_supervisors_store(
    store_url: str, tmp_path: Path, count_from: str
) -> None:
    """The processes a supervisor starts with are forked from it (named queuectl-member,
    each in a process group of its own, its stdin and stdout /dev/null, stderr the log
    pipe); no SQLite connection of the supervisor's is open while it forks (its own, and
    the command line's that read `worker-count`), so a forked process holds no more
    descriptors on the database than one started afresh in the place of a killed one."""
    args = ["--count", "2", "--procs", "2"] if count_from == "option" else ["--procs", "2"]
    if count_from == "config":
        setup = open_store(store_url)
        setup.set_config("worker-count", "2")
        setup.close()
    worker = start_worker(store_url, tmp_path / "worker.log", *args)
    try:
        wait_for(lambda: len(member_pids(worker.pid)) == 2, what="two processes")
        forked = member_pids(worker.pid)
        for pid in forked:
            assert Path(f"/proc/{pid}/comm").read_text().strip() == "queuectl-member"
            assert _parent_of(pid) == worker.pid and os.getpgid(pid) == pid
            assert [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1)] == ["/dev/null"] * 2
            assert os.readlink(f"/proc/{pid}/fd/2").startswith("pipe:")
        wait_for(lambda: _database_fds(forked[0], store_url) > 0, what="its store opened")
        os.kill(forked[1], signal.SIGKILL)
        wait_for(
            lambda: len(now := member_pids(worker.pid)) == 2 and forked[1] not in now,
            what="a process in its place",
        )
        [started] = set(member_pids(worker.pid)) - set(forked)
        assert b"queuectl.worker_process" in Path(f"/proc/{started}/cmdline").read_bytes()
        wait_for(
            lambda: _database_fds(started, store_url) == _database_fds(forked[0], store_url),
            what="as many descriptors on the database in either process",
        )
        assert stop(worker) == 0
    finally:
        stop(worker)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_supervisor_started_with_sigchld_ignored_still_replaces_a_killed_process(
    store_url: str, tmp_path: Path
) -> None:
    """An ignored SIGCHLD is inherited across exec, and would have the kernel reap the
    processes unseen (a killed one read as a clean end): the supervisor takes the default."""
    log = tmp_path / "worker.log"
    queuectl = [sys.executable, "-m", "queuectl", "--db", store_url, "worker", "start"]
    ignoring = (
        "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
        "os.execv(sys.executable, sys.argv[1:])"
    )
    with log.open("ab") as out:
        command = [sys.executable, "-c", ignoring, *queuectl, "--count", "2", "--procs", "2"]
        worker = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        wait_for(lambda: len(member_pids(worker.pid)) == 2, what="two processes")
        [victim, _] = member_pids(worker.pid)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: "killed by SIGKILL; starting another" in log.read_text(), what="it")
        wait_for(lambda: len(now := member_pids(worker.pid)) == 2 and victim not in now)
        assert stop(worker) == 0
    finally:
        stop(worker)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--count", "2", "--procs", "3"], "3 processes for 2 slot(s)"),
        (["--count", "2", "--procs", "0"], "0 is not in the range"),
        (["--procs", "2"], "config worker-count"),
        (["--count", "2", "--procs", "two"], "'two' is not a valid integer"),
    ],
    ids=["more-than-slots", "zero", "more-than-config-count", "not-a-number"],
)
def test_procs_is_checked(tmp_path: Path, args: list[str], fragment: str) -> None:
    done = _cli(str(tmp_path / "q.db"), "worker", "start", "--burst", *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert fragment in lines[0] and "--procs" in lines[0], lines[0]
