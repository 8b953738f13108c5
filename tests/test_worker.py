"""Workers end to end: real `queuectl worker` processes on each backend.

Every wait is on a condition with a deadline; nothing depends on a fixed sleep.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from queuectl.models import JobState, NewJob
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


def run_burst(url: str, log: Path, *args: str, timeout: float = 120) -> None:
    proc = start_worker(url, log, "--burst", *args)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"burst worker did not finish; log:\n{log.read_text()}") from None
    assert code == 0, log.read_text()


def marker() -> str:
    """A unique sleep length, so a test can find its own processes in /proc."""
    return f"{300 + uuid.uuid4().int % 600}.{uuid.uuid4().int % 10_000:04d}"


# -- the five scenarios -------------------------------------------------------------------


def test_success_reaches_completed_with_output(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    enqueue(
        store,
        '{"id":"ok","command":"echo out; echo err >&2; echo $QUEUECTL_JOB_ID:$QUEUECTL_ATTEMPT"}',
    )
    run_burst(store_url, tmp_path / "w.log")
    done = job(store, "ok")
    assert done.state is JobState.COMPLETED
    assert done.attempts == 1
    [attempt] = store.list_attempts("ok")
    assert attempt.exit_code == 0 and attempt.error is None
    assert attempt.stdout == b"out\nok:1\n"
    assert attempt.stderr == b"err\n"
    assert attempt.finished_at is not None and attempt.finished_at >= attempt.started_at


def test_failing_job_backs_off_then_dead_then_dlq_retry(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    store.set_config("backoff-base", "1.3")
    enqueue(store, '{"id":"bad","command":"exit 3","max_retries":2}')
    run_burst(store_url, tmp_path / "w.log")
    failed = job(store, "bad")
    assert failed.state is JobState.DEAD
    attempts = store.list_attempts("bad")
    assert [a.attempt for a in attempts] == [1, 2, 3]  # exactly max_retries + 1
    assert all(a.exit_code == 3 and a.error == "exit code 3" for a in attempts)
    # After the n-th failure the job waits backoff_base ** n seconds, never less.
    for n, (before, after) in enumerate(itertools.pairwise(attempts), start=1):
        assert before.finished_at is not None
        gap = after.started_at - before.finished_at
        assert gap >= 1.3**n - 0.01, f"retry {n} came after {gap:.3f}s"
        assert gap < 1.3**n + 5, f"retry {n} came {gap:.3f}s late"

    result = subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", store_url, "dlq", "retry", "bad"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "bad" in result.stdout
    requeued = job(store, "bad")
    assert requeued.state is JobState.PENDING and requeued.attempts == 0
    run_burst(store_url, tmp_path / "w2.log")
    assert state_of(store, "bad") is JobState.DEAD
    assert len(store.list_attempts("bad")) == 6


def test_parallel_slots_run_every_job_exactly_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "ids.txt"
    store.enqueue_jobs([_job(f"j{i}", f'echo "$QUEUECTL_JOB_ID" >> {out}') for i in range(500)], 3)
    run_burst(store_url, tmp_path / "w.log", "--count", "4")
    lines = out.read_text().split()
    assert sorted(lines) == sorted(f"j{i}" for i in range(500))
    assert store.count_jobs().by_state[JobState.COMPLETED] == 500


def test_invalid_commands_fail_cleanly(store: Store, store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    enqueue(
        store,
        '{"id":"missing","command":"no-such-command-here","max_retries":0}',
        f'{{"id":"noexec","command":"{script}","max_retries":0}}',
    )
    run_burst(store_url, tmp_path / "w.log")
    missing, noexec = job(store, "missing"), job(store, "noexec")
    assert missing.state is JobState.DEAD and noexec.state is JobState.DEAD
    assert missing.last_error == "command not found (exit 127)"
    assert noexec.last_error == "command not executable (exit 126)"
    assert b"not found" in store.list_attempts("missing")[0].stderr


def test_jobs_survive_worker_restart(store: Store, store_url: str, tmp_path: Path) -> None:
    store.enqueue_jobs([_job(f"r{i}", "sleep 0.05") for i in range(60)], 3)
    log = tmp_path / "w.log"
    first = start_worker(store_url, log, "--count", "2")
    wait_for(lambda: store.count_jobs().by_state[JobState.COMPLETED] >= 10, what="some done")
    assert stop(first) == 0
    counts = store.count_jobs().by_state
    assert counts[JobState.PROCESSING] == 0, "a graceful stop left a job processing"
    assert 10 <= counts[JobState.COMPLETED] < 60
    store.close()
    reopened = open_store(store_url)  # the store persists across processes
    try:
        run_burst(store_url, log, "--count", "2")
        assert reopened.count_jobs().by_state[JobState.COMPLETED] == 60
        assert all(j.attempts == 1 for j in reopened.list_jobs())
    finally:
        reopened.close()


# -- failure paths ------------------------------------------------------------------------


def test_timeout_kills_the_whole_process_tree(store: Store, store_url: str, tmp_path: Path) -> None:
    mark = marker()
    enqueue(
        store,
        f'{{"id":"slow","command":"sleep {mark} & sleep {mark}","timeout":0.5,"max_retries":0}}',
    )
    try:
        run_burst(store_url, tmp_path / "w.log")
        slow = job(store, "slow")
        assert slow.state is JobState.DEAD
        assert slow.last_error == "timeout after 0.5s"
        assert processes_matching(mark) == [], "a process of the timed-out job survived"
    finally:
        kill_matching(mark)


def test_sigkilled_worker_job_recovered_through_lease(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    store.set_config("lease-seconds", "2")
    store.set_config("backoff-base", "1")
    mark = marker()
    enqueue(store, f'{{"id":"orphan","command":"test $QUEUECTL_ATTEMPT = 2 || sleep {mark}"}}')
    log = tmp_path / "w.log"
    victim = start_worker(store_url, log)
    try:
        wait_for(lambda: state_of(store, "orphan") is JobState.PROCESSING, what="job claimed")
        victim.kill()
        victim.wait()
        run_burst(store_url, log)  # reaps the expired lease, retries, completes
        recovered = job(store, "orphan")
        assert recovered.state is JobState.COMPLETED
        first, second = store.list_attempts("orphan")
        assert first.error == "worker lost (lease expired)"
        assert second.exit_code == 0
    finally:
        kill_matching(mark)


def test_warm_stop_lets_running_job_finish(store: Store, store_url: str, tmp_path: Path) -> None:
    started, flag = tmp_path / "started", tmp_path / "go"
    command = f"touch {started}; while [ ! -e {flag} ]; do sleep 0.05; done; echo finished"
    enqueue(store, json.dumps({"id": "warm", "command": command}))
    worker = start_worker(store_url, tmp_path / "w.log")
    # Running, not just claimed: a job claimed but not started yet would be handed back.
    wait_for(started.exists, what="job running")
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "stopping: waiting" in (tmp_path / "w.log").read_text(), what="warm stop")
    assert worker.poll() is None, "worker exited while its job was running"
    flag.touch()
    assert worker.wait(30) == 0
    assert state_of(store, "warm") is JobState.COMPLETED
    assert store.list_attempts("warm")[0].stdout == b"finished\n"


def test_cold_stop_puts_job_back_without_counting(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    mark = marker()
    enqueue(store, f'{{"id":"cold","command":"sleep {mark}"}}')
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: processes_matching(mark), what="job running")
        worker.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping: waiting" in (tmp_path / "w.log").read_text(), what="warm")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        cold = job(store, "cold")
        assert cold.state is JobState.PENDING and cold.attempts == 0
        assert store.list_attempts("cold")[0].error == "released"
        wait_for(lambda: not processes_matching(mark), timeout=10, what="job killed")
    finally:
        kill_matching(mark)


def test_job_printing_100_mb_costs_the_worker_no_memory(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    store.set_config("output-limit", "1000")
    enqueue(
        store, '{"id":"loud","command":"head -c 100000000 /dev/zero | tr \\"\\\\0\\" x; echo END"}'
    )
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: state_of(store, "loud") is JobState.COMPLETED, timeout=90, what="done")
        peak_kib = _peak_rss_kib(worker.pid)
    finally:
        stop(worker)
    [attempt] = store.list_attempts("loud")
    assert len(attempt.stdout) == 1000
    assert attempt.stdout.endswith(b"xxxEND\n")
    assert peak_kib < 120_000, f"worker peaked at {peak_kib} KiB for a 100 MB job"


def test_priority_then_age_and_run_at_respected(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    now = store.now()
    store.enqueue_jobs(
        [
            _job("low-old", "true"),
            _job("high", "true", priority=5),
            _job("low-new", "true"),
            _job("later", "true", priority=9, delay=1.5),
        ],
        3,
    )
    worker = start_worker(store_url, tmp_path / "w.log")  # one slot: one job at a time
    try:
        wait_for(lambda: store.count_jobs().by_state[JobState.COMPLETED] == 4, what="all four done")
    finally:
        stop(worker)
    starts = {
        j: store.list_attempts(j)[0].started_at for j in ("low-old", "high", "low-new", "later")
    }
    assert starts["high"] < starts["low-old"] < starts["low-new"]
    assert starts["later"] >= now + 1.5 - 0.01, "a scheduled job ran early"


def test_cancel_of_running_job_kills_it(store: Store, store_url: str, tmp_path: Path) -> None:
    mark = marker()
    enqueue(store, f'{{"id":"victim","command":"sleep {mark} & sleep {mark}"}}')
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: len(processes_matching(mark)) >= 2, what="job running")
        subprocess.run(
            [sys.executable, "-m", "queuectl", "--db", store_url, "cancel", "victim"], check=True
        )
        wait_for(lambda: state_of(store, "victim") is JobState.CANCELLED, what="cancelled")
        wait_for(lambda: not processes_matching(mark), timeout=10, what="processes gone")
        assert store.list_attempts("victim")[0].error == "cancelled"
    finally:
        stop(worker)
        kill_matching(mark)


def test_worker_stop_stops_a_detached_worker(store_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    base = [sys.executable, "-m", "queuectl", "--db", store_url]
    started = subprocess.run(
        [*base, "worker", "start", "--detach"], capture_output=True, text=True, env=env, check=True
    )
    pid = int(started.stdout.strip())
    log_path = Path(started.stderr.rsplit("log: ", 1)[1].strip())
    try:
        _check_detached_worker_stops(base, env, pid, log_path, tmp_path)
    finally:  # a failed check must not leave a detached worker behind
        with contextlib.suppress(OSError):
            if b"queuectl" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def _check_detached_worker_stops(
    base: list[str], env: dict[str, str], pid: int, log_path: Path, tmp_path: Path
) -> None:
    assert log_path.parent == tmp_path / "state" / "queuectl"
    listed = subprocess.run(
        [*base, "worker", "list", "--json"], capture_output=True, text=True, env=env, check=True
    )
    assert f'"pid": {pid}' in listed.stdout
    stopped = subprocess.run(
        [*base, "worker", "stop", "--timeout", "30"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped 1 worker" in stopped.stdout
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _is_zombie(pid), what="worker exit")
    (listed_worker,) = json.loads(listed.stdout)
    assert f"worker {listed_worker['id']} stopped" in log_path.read_text()


# -- helpers ------------------------------------------------------------------------------


def _job(job_id: str, command: str, priority: int = 0, delay: float = 0.0) -> NewJob:
    return NewJob(id=job_id, command=command, priority=priority, delay=delay)


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def test_a_worker_with_busy_slots_does_not_spin(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    store.set_config("grace-period", "0")  # stop() need not wait for the long job
    mark = marker()
    enqueue(store, f'{{"id":"long","command":"sleep {mark}"}}')
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: processes_matching(mark), what="job running")
        used = _cpu_seconds(worker.pid, over=2.0)
        assert used < 0.5, f"worker used {used:.2f}s of CPU in 2s with its only slot busy"
    finally:
        stop(worker)
        kill_matching(mark)


def test_a_worker_that_lost_its_lease_kills_its_copy(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """A stalled worker (SIGSTOP) loses its lease; another worker runs the job. When the
    first wakes, its heartbeat finds the job gone and it kills its own copy at once."""
    store.set_config("lease-seconds", "2")
    store.set_config("backoff-base", "1")
    store.set_config("grace-period", "0")
    mark = marker()
    enqueue(store, f'{{"id":"stall","command":"exec sleep {mark}","max_retries":1}}')
    stalled = start_worker(store_url, tmp_path / "a.log")
    rescuer = None
    try:
        wait_for(lambda: len(processes_matching(mark)) == 1, what="first copy running")
        stalled.send_signal(signal.SIGSTOP)
        rescuer = start_worker(store_url, tmp_path / "b.log")
        wait_for(lambda: len(store.list_attempts("stall")) == 2, timeout=60, what="retry")
        wait_for(lambda: len(processes_matching(mark)) == 2, what="second copy running")
        stalled.send_signal(signal.SIGCONT)
        wait_for(lambda: len(processes_matching(mark)) == 1, timeout=15, what="copy killed")
        assert "lease lost, killing our copy" in (tmp_path / "a.log").read_text()
        first, second = store.list_attempts("stall")
        assert first.error == "worker lost (lease expired)"
        assert second.finished_at is None  # the rescuer's copy runs on
    finally:
        stalled.send_signal(signal.SIGCONT)
        stop(stalled)
        if rescuer is not None:
            stop(rescuer)
        kill_matching(mark)


def _cpu_seconds(pid: int, over: float) -> float:
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before = ticks()
    time.sleep(over)  # measuring a rate over a time span, not waiting for a condition
    return (ticks() - before) / os.sysconf("SC_CLK_TCK")
