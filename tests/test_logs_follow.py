"""`queuectl logs` (whole, --tail, --follow) and `queuectl metrics` through the real
command line, in processes of their own, against a real worker running a job that
prints, waits for a file we create, then prints again and exits 7. Every wait is on a
condition (output seen, state reached), never a fixed sleep."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from queuectl.models import JobState, RunResult
from queuectl.store import Store
from tests.conftest import as_claimed, make_job
from tests.exposition import check_histograms, parse
from tests.helpers import start_worker, state_of, stop, wait_for

pytestmark = pytest.mark.shared_store  # workers or servers in other processes


def queuectl(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "queuectl", "--db", url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


class Reader:
    """Collects what a child process writes to one pipe, from a thread."""

    def __init__(self, pipe: IO[bytes]) -> None:
        # A Popen pipe (bufsize -1) is buffered: read1 returns what is there, not 4096.
        assert isinstance(pipe, io.BufferedReader), pipe
        self.data = b""
        self._pipe = pipe
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := self._pipe.read1(4096):
            self.data += chunk

    def done(self) -> bytes:
        self._thread.join(30)
        return self.data


def waiting_job(tmp_path: Path) -> tuple[str, Path]:
    go = tmp_path / "go"
    command = (
        f"echo first; echo oops >&2; while [ ! -e {go} ]; do sleep 0.05; done; echo second; exit 7"
    )
    return command, go


@pytest.mark.not_fast  # a real worker process
def test_logs_and_follow_show_a_running_jobs_output_then_exit_with_its_status(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    command, go = waiting_job(tmp_path)
    store.enqueue_jobs([make_job("slow", command, max_retries=0)], 3)
    worker = start_worker(store_url, tmp_path / "w.log")
    try:
        # `logs` on the running job: its output so far (its worker publishes it).
        def output_so_far() -> subprocess.CompletedProcess[str] | None:
            done = queuectl(store_url, "logs", "slow")
            return done if done.stdout == "first\n" else None

        seen = wait_for(output_so_far, what="logs to show the running job's output")
        assert seen.returncode == 0 and seen.stderr == "oops\n"
        assert state_of(store, "slow") is JobState.PROCESSING

        follower = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "--db", store_url, "logs", "--follow", "slow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert follower.stdout is not None and follower.stderr is not None
        out, err = Reader(follower.stdout), Reader(follower.stderr)
        wait_for(lambda: out.data == b"first\n", what="the follower to print the output so far")
        wait_for(lambda: err.data == b"oops\n", what="the follower to print stderr so far")
        assert follower.poll() is None, "the follower must wait while the job runs"
        assert state_of(store, "slow") is JobState.PROCESSING

        go.touch()
        assert follower.wait(60) == 7  # the job's exit status
        assert out.done() == b"first\nsecond\n"
        assert err.done() == b"oops\n"
        assert state_of(store, "slow") is JobState.DEAD
    finally:
        go.touch()
        stop(worker)

    done = queuectl(store_url, "logs", "--tail", "1", "slow")
    assert (done.returncode, done.stdout, done.stderr) == (0, "second\n", "oops\n")


def test_tail_prints_the_last_lines_with_and_without_follow(store: Store, store_url: str) -> None:
    store.enqueue_jobs([make_job("five")], 3)
    assert len(store.claim_jobs("w1", None, 1, 60.0)) == 1
    lines = b"".join(b"line %d\n" % i for i in range(1, 6))
    assert store.complete_job("five", "w1", 1, RunResult(0, None, lines, b"e1\ne2\ne3"))

    done = queuectl(store_url, "logs", "five", "--tail", "2")
    assert (done.returncode, done.stdout, done.stderr) == (0, "line 4\nline 5\n", "e2\ne3")
    assert queuectl(store_url, "logs", "five", "--tail", "0").stdout == ""
    assert queuectl(store_url, "logs", "five", "--tail", "99").stdout == lines.decode()
    done = queuectl(store_url, "logs", "five", "-f", "--tail", "1")
    assert (done.returncode, done.stdout, done.stderr) == (0, "line 5\n", "e3")

    store.enqueue_jobs([make_job("quiet")], 3)
    assert len(store.claim_jobs("w1", None, 1, 60.0)) == 1  # running, nothing published
    done = queuectl(store_url, "logs", "quiet")
    assert done.returncode == 0 and done.stdout == ""
    assert "job quiet (attempt 1) is running and has shown no output yet" in done.stderr

    bad = queuectl(store_url, "logs", "five", "--tail", "-1")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stdout == ""
    missing = queuectl(store_url, "logs", "-f", "nope")
    assert missing.returncode == 1 and missing.stderr == "error: no job with id 'nope'\n"


def test_metrics_prints_valid_exposition_and_counters_never_drop_after_purge(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    store.enqueue_jobs([make_job(f"j{i}", max_retries=0) for i in range(3)], 3)
    for i, code in enumerate([0, 0, 4]):
        store.claim_jobs("w1", None, 1, 60.0)
        result = RunResult(code, None if code == 0 else f"exit code {code}")
        if code == 0:
            assert store.complete_job(f"j{i}", "w1", 1, result)
        else:
            assert store.fail_job(as_claimed(store, f"j{i}", "w1", 1), result, 0.0) is JobState.DEAD

    first = queuectl(store_url, "metrics")
    assert first.returncode == 0 and first.stderr == ""
    types, before = parse(first.stdout)
    check_histograms(types, before)
    done = ("queuectl_jobs_finished_total", (("outcome", "completed"), ("queue", "default")))
    dead = ("queuectl_jobs_finished_total", (("outcome", "dead"), ("queue", "default")))
    assert (before[done], before[dead]) == (2, 1)

    purged = queuectl(store_url, "purge", "--state", "completed", "--state", "dead")
    assert purged.returncode == 0, purged.stderr
    target = tmp_path / "queuectl.prom"
    written = queuectl(store_url, "metrics", "--output", str(target))
    assert written.returncode == 0 and written.stdout == ""
    types, after = parse(target.read_text())
    check_histograms(types, after)
    for key, value in before.items():
        if types.get(key[0]) == "counter" or key[0].endswith(("_bucket", "_count", "_sum")):
            assert after[key] >= value, key
    assert after[("queuectl_jobs", (("queue", "default"), ("state", "completed")))] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".queuectl-metrics-")]
    nowhere = queuectl(store_url, "metrics", "-o", str(tmp_path / "missing" / "q.prom"))
    assert nowhere.returncode == 1 and nowhere.stdout == ""
    assert nowhere.stderr.startswith("error: cannot write ") and nowhere.stderr.count("\n") == 1
