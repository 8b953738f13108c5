"""Hostile jobs, output side: a job that closes its stdout early, one that prints far more
than the limit (with and without newlines), one that prints binary, one that reads stdin.

Each must end recorded with the right tail, the next job must run, and the worker's
memory must stay bounded by output-limit however much was printed. Sizes grow with
`--chaos-scale` (CI: a few hundred MB through the worker; `--chaos-scale 20`: gigabytes).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import Store
from tests.helpers import enqueue, job, start_worker, stop, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.shared_store]

LIMIT = 1 << 20  # output-limit for these tests: 1 MiB per stream


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def worker(store: Store, store_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker with output-limit LIMIT that has already run one job (its memory warm)."""
    store.set_config("output-limit", str(LIMIT))
    enqueue(store, '{"id":"warm-up","command":"echo warm"}')
    proc = start_worker(store_url, tmp_path / "w.log")
    try:
        wait_for(lambda: job(store, "warm-up").state is JobState.COMPLETED, 60, "warm-up")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_jobs(store: Store, specs: dict[str, str], timeout: float) -> None:
    enqueue(store, *(json.dumps({"id": i, "command": c}) for i, c in specs.items()))
    enqueue(store, '{"id":"after","command":"echo after"}')
    ids = [*specs, "after"]
    wait_for(
        lambda: all(job(store, i).state is JobState.COMPLETED for i in ids),
        timeout,
        "every hostile job and the one after",
    )


def test_huge_output_with_and_without_newlines_and_binary(
    store: Store, worker: subprocess.Popen[bytes], chaos_scale: float
) -> None:
    base = peak_rss(worker.pid)
    text = int(256 * chaos_scale) << 20  # per stream
    binary = int(32 * chaos_scale) << 20
    run_jobs(
        store,
        {
            "lines": f"yes 'a line of output' | head -c {text}; yes err | head -c {text} >&2",
            "no-newlines": f"head -c {text} /dev/zero | tr '\\0' x; head -c {text} /dev/zero >&2",
            "binary": f"head -c {binary} /dev/urandom; head -c {binary} /dev/urandom >&2",
        },
        timeout=120 * max(chaos_scale, 1),
    )
    lines = store.list_attempts("lines")[-1]
    assert len(lines.stdout) == LIMIT and set(lines.stdout) == set(b"a line of output\n")
    assert set(lines.stderr) == set(b"err\n")
    flat = store.list_attempts("no-newlines")[-1]
    assert flat.stdout == b"x" * LIMIT and flat.stderr == b"\0" * LIMIT
    raw = store.list_attempts("binary")[-1]
    assert len(raw.stdout) == LIMIT and len(raw.stderr) == LIMIT
    grown = peak_rss(worker.pid) - base
    assert grown < 8 * LIMIT + (16 << 20), f"worker peak RSS grew by {grown >> 20} MiB"
    assert stop(worker) == 0


def test_stdout_closed_early_and_stdin_read(store: Store, worker: subprocess.Popen[bytes]) -> None:
    run_jobs(
        store,
        {
            # Closes stdout and stderr, then goes on working: the job is not over yet.
            "closed": "echo before; exec >&- 2>&-; sleep 0.5; echo late > /dev/null",
            # Closes only stdout, then writes to it: the write fails, the job exits 0.
            "write-after-close": "exec >&-; echo lost 2>/dev/null; echo err >&2; true",
            # Reads stdin: /dev/null, so end of input at once.
            "stdin": "cat; read line || echo no-input",
        },
        timeout=60,
    )
    closed = store.list_attempts("closed")[-1]
    assert closed.stdout == b"before\n" and closed.exit_code == 0
    assert closed.finished_at is not None and closed.finished_at - closed.started_at >= 0.5
    assert store.list_attempts("write-after-close")[-1].stderr == b"err\n"
    assert store.list_attempts("stdin")[-1].stdout == b"no-input\n"
    assert stop(worker) == 0
