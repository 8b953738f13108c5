"""Whole process trees: when a job ends, however it ends, every
process it started is killed, even one that left its process group or session, and the
worker leaves no zombie. Real workers on each backend; processes found in /proc by a
unique marker in their command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.models import JobState, RunResult
from queuectl.store import Store, open_store
from tests.helpers import (
    enqueue,
    job,
    kill_matching,
    processes_matching,
    start_worker,
    state_of,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.shared_store]

# Ways a job's process can leave its process group or outlive its parent. `{m}` is the
# marker; each shape starts one or two processes whose command line holds it.
PY = sys.executable
SHAPES = {
    "setsid": "setsid sleep {m} &",
    # nohup and a shell's double fork stay in the group (its kill always caught them)...
    "nohup": "nohup sleep {m} >/dev/null 2>&1 &",
    "double_fork": "sh -c '(sleep {m} &) &';",
    # ...unless they also leave it
    "nohup_own_group": f"nohup {PY} -c 'import os, sys; os.setpgid(0, 0); "
    'os.execvp("sleep", ["sleep", sys.argv[1]])\' {m} >/dev/null 2>&1 &',
    "daemon": f"{PY} -c 'import os, sys; os.fork() and os._exit(0); os.setsid(); "
    'os.fork() and os._exit(0); os.execvp("sleep", ["sleep", sys.argv[1]])\' {m} &',
    "ignores_sigterm": "setsid sh -c 'trap \"\" TERM; sleep {m}' &",
    "drops_environment": "env -i setsid sleep {m} &",
}
ALL_SHAPES = " ".join(SHAPES.values())
LEFT_RUNNING = len(SHAPES)  # at least this many marked processes once all have started


def marker() -> str:
    return f"{1000 + uuid.uuid4().int % 900}.{uuid.uuid4().int % 10_000:04d}"


@pytest.fixture
def mark() -> Iterator[str]:
    value = marker()
    yield value
    kill_matching(value)


def zombie_children(pid: int) -> list[int]:
    """Children of `pid` that exited and were never reaped."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state == "Z":
            found.append(int(entry))
    return found


def spec(job_id: str, command: str, **fields: object) -> str:
    return json.dumps({"id": job_id, "command": command, **fields})


def queuectl(url: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "queuectl", "--db", url, *args], check=True)


def assert_all_gone(mark: str, worker: subprocess.Popen[bytes] | None) -> None:
    wait_for(lambda: not processes_matching(mark), what=f"no process left ({mark})")
    if worker is not None and worker.poll() is None:
        wait_for(lambda: not zombie_children(worker.pid), what="no zombie child of the worker")


# -- each shape, when the job's shell exits on its own -------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_job_that_ends_leaves_nothing_running(shape: str, tmp_path: Path, mark: str) -> None:
    url = str(tmp_path / "q.db")
    store = open_store(url)
    enqueue(store, spec("j", f"{SHAPES[shape].format(m=mark)} sleep 0.5"))
    worker = start_worker(url, tmp_path / "w.log")
    try:
        wait_for(lambda: state_of(store, "j") is JobState.COMPLETED, what="job completed")
        assert_all_gone(mark, worker)
    finally:
        stop(worker)
        store.close()


# -- every shape at once, each way a job can end, on each backend --------------------------


def test_normal_end(store: Store, store_url: str, tmp_path: Path, mark: str) -> None:
    enqueue(store, spec("j", f"{ALL_SHAPES.format(m=mark)} sleep 0.5"))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: state_of(store, "j") is JobState.COMPLETED, what="job completed")
        assert_all_gone(mark, worker)
    finally:
        stop(worker)


def test_timeout(store: Store, store_url: str, tmp_path: Path, mark: str) -> None:
    command = f"{ALL_SHAPES.format(m=mark)} sleep {mark}"
    enqueue(store, spec("j", command, timeout=1.5, max_retries=0))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: state_of(store, "j") is JobState.DEAD, what="job timed out")
        assert store.list_attempts("j")[0].error == "timeout after 1.5s"
        assert_all_gone(mark, worker)
    finally:
        stop(worker)


def test_cancel(store: Store, store_url: str, tmp_path: Path, mark: str) -> None:
    enqueue(store, spec("j", f"{ALL_SHAPES.format(m=mark)} sleep {mark}"))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: len(processes_matching(mark)) > LEFT_RUNNING, what="all started")
        queuectl(store_url, "cancel", "j")
        wait_for(lambda: state_of(store, "j") is JobState.CANCELLED, what="job cancelled")
        assert_all_gone(mark, worker)
    finally:
        stop(worker)


def test_graceful_stop_while_the_job_finishes(
    store: Store, store_url: str, tmp_path: Path, mark: str
) -> None:
    """The job ends within the grace period: the worker exits only once what it left
    running is gone (nothing re-parents to init behind its back)."""
    flag = tmp_path / "go"
    command = f"{ALL_SHAPES.format(m=mark)} while [ ! -e {flag} ]; do sleep 0.05; done"
    enqueue(store, spec("j", command))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: len(processes_matching(mark)) >= LEFT_RUNNING, what="all started")
        worker.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping: waiting" in (tmp_path / "w.log").read_text(), what="warm")
        flag.touch()
        assert worker.wait(60) == 0
        assert state_of(store, "j") is JobState.COMPLETED
        assert_all_gone(mark, None)
    finally:
        stop(worker)


@pytest.mark.parametrize("how", ["graceful", "now"])
def test_worker_stop(how: str, store: Store, store_url: str, tmp_path: Path, mark: str) -> None:
    if how == "graceful":
        store.set_config("grace-period", "0.5")  # the job outlasts it: killed at its end
    enqueue(store, spec("j", f"{ALL_SHAPES.format(m=mark)} sleep {mark}"))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: len(processes_matching(mark)) > LEFT_RUNNING, what="all started")
        worker.send_signal(signal.SIGTERM)
        if how == "now":
            wait_for(lambda: "stopping: waiting" in (tmp_path / "w.log").read_text(), what="warm")
            worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        assert state_of(store, "j") is JobState.PENDING  # released, not counted
        assert_all_gone(mark, None)
    finally:
        stop(worker)


def test_lost_lease_kills_the_whole_tree(
    store: Store, store_url: str, tmp_path: Path, mark: str
) -> None:
    """A worker that finds its job gone to another (its lease lost) kills its copy, tree
    and all."""
    store.set_config("lease-seconds", "1")
    enqueue(store, spec("j", f"{ALL_SHAPES.format(m=mark)} sleep {mark}"))
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: len(processes_matching(mark)) > LEFT_RUNNING, what="all started")
        worker.send_signal(signal.SIGSTOP)  # stalled past its lease...
        try:
            [lost] = wait_for(store.expired_jobs, what="lease expired")
            store.reap_job(lost, RunResult(None, "lost"), 60)
        finally:
            worker.send_signal(signal.SIGCONT)  # ...it wakes, learns, kills its copy
        wait_for(lambda: "lease lost" in (tmp_path / "w.log").read_text(), what="lease lost")
        assert_all_gone(mark, worker)
    finally:
        stop(worker)


# -- the opt-out ------------------------------------------------------------------------------


def test_keep_daemons_leaves_the_daemons_running(
    store: Store, store_url: str, tmp_path: Path, mark: str
) -> None:
    command = f"setsid sleep {mark} & env -i setsid sleep {mark} & sleep 0.3"
    enqueue(store, spec("j", command, keep_daemons=True))
    assert job(store, "j").keep_daemons
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: state_of(store, "j") is JobState.COMPLETED, what="job completed")
        daemons = wait_for(lambda: processes_matching(mark), what="daemons alive")
        enqueue(store, spec("k", "true"))  # other jobs come and go: the daemons stay
        wait_for(lambda: state_of(store, "k") is JobState.COMPLETED, what="next job done")
        assert sorted(processes_matching(mark)) == sorted(daemons) and len(daemons) == 2
        # The worker is their subreaper: they are its children now, and when they end the
        # worker reaps them.
        for pid in daemons:
            ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            assert int(ppid) == worker.pid
            os.kill(pid, signal.SIGKILL)
        assert_all_gone(mark, worker)
    finally:
        stop(worker)


def test_many_short_jobs_leave_no_zombie(store: Store, store_url: str, tmp_path: Path) -> None:
    enqueue(store, *(spec(f"j{i}", "true & true") for i in range(200)))
    worker = start_worker(store_url, tmp_path / "w.log", "--count", "2")
    try:
        wait_for(
            lambda: store.count_jobs().by_state[JobState.COMPLETED] == 200, what="all completed"
        )
        wait_for(lambda: not zombie_children(worker.pid), what="no zombie child of the worker")
    finally:
        stop(worker)


@pytest.mark.parametrize("ending", ["exit", "timeout", "cancel"])
def test_each_leftover_gets_one_sigterm(ending: str, tmp_path: Path, mark: str) -> None:
    """A cleanup trap runs once: no process gets SIGTERM from its group and again by its
    token, or at the timeout and again when the shell exits."""
    url = str(tmp_path / "q.db")
    store = open_store(url)
    log = tmp_path / "terms"
    trap = f"trap 'date +{{}}:%s.%N >> {log}' TERM; while :; do sleep 0.05; done; : {mark}"
    last = "sleep 0.3" if ending == "exit" else f"sleep {mark}"
    command = f'sh -c "{trap.format("group")}" & setsid sh -c "{trap.format("escaped")}" & {last}'
    enqueue(store, spec("j", command, timeout=1 if ending == "timeout" else 0, max_retries=0))
    worker = start_worker(url, tmp_path / "w.log")
    try:
        if ending == "cancel":
            wait_for(lambda: len(processes_matching(mark)) >= 3, what="all started")
            queuectl(url, "cancel", "j")
        wait_for(lambda: state_of(store, "j").value in ("completed", "dead", "cancelled"))
        assert_all_gone(mark, worker)
        assert sorted(line.split(":")[0] for line in log.read_text().split()) == [
            "escaped",
            "group",
        ]
    finally:
        stop(worker)
        store.close()
