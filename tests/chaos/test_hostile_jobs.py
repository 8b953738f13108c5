"""Hostile jobs on every backend: one that reads stdin, ones that close their stdout (and
stderr) early, and commands at and past the longest argument Linux passes to a program.

A job's stdin is /dev/null, so a reader sees end-of-file at once rather than hanging; a
closed stdout is not the end of the job (its exit is); a command at the limit runs, and
one past it is refused at enqueue (it could never start) with one `error:` line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.spec import MAX_COMMAND_BYTES
from queuectl.store import Store
from tests.chaos.faults import Figures, fleet, new_marker, queuectl

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.shared_store]

JOBS = {
    # cat copies stdin to its end; `read` then fails at end-of-file (status 1).
    "reads-stdin": ('cat; read line; echo "stdin-done:$?"', JobState.COMPLETED),
    # Stdout closed first thing; the job goes on and ends well later.
    "closes-stdout": ("exec 1>&-; sleep 0.3; echo still-here >&2", JobState.COMPLETED),
    # Both streams closed; the job's exit code is still what counts.
    "closes-both": ("exec 1>&- 2>&-; sleep 0.3; exit 7", JobState.DEAD),
    # A child keeps the pipe open after the shell closed its own copy.
    "child-keeps-stdout": ("(sleep 0.3; echo from-child) & exec 1>&-; wait", JobState.COMPLETED),
}


def _huge_command(size: int) -> str:
    """A command of exactly `size` bytes that prints `huge-ok` when it runs."""
    tail = "; echo huge-ok"
    return ": " + "x" * (size - 2 - len(tail)) + tail


def test_hostile_jobs_end_as_their_exit_says(
    store: Store, store_url: str, tmp_path: Path, figures: Figures
) -> None:
    marker = new_marker("0.3")
    lines = [
        json.dumps({"id": job_id, "command": f"{command} # {marker}", "max_retries": 0})
        for job_id, (command, _) in JOBS.items()
    ]
    lines.append(json.dumps({"id": "huge", "command": _huge_command(MAX_COMMAND_BYTES)}))
    bulk = tmp_path / "hostile.jsonl"
    bulk.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        queuectl(store_url, "enqueue", "--file", str(bulk), "--timeout", "30"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with fleet(store_url, tmp_path, marker) as workers:
        burst = workers.start(4, "--burst", stdin=subprocess.PIPE)
        assert burst.wait(120) == 0, workers.log_text()
        workers.wait(lambda: not workers.job_pids(), "no job process left")
    expected = {job_id: state for job_id, (_, state) in JOBS.items()} | {"huge": JobState.COMPLETED}
    for job_id, state in expected.items():
        job = store.get_job(job_id)
        assert job is not None and job.state is state, (job_id, job, store.list_attempts(job_id))
        figures.faults[job_id] += 1
    last = {job_id: store.list_attempts(job_id)[-1] for job_id in expected}
    assert last["reads-stdin"].stdout == b"stdin-done:1\n"
    assert last["closes-stdout"].stderr == b"still-here\n"
    assert (last["closes-both"].exit_code, last["closes-both"].error) == (7, "exit code 7")
    assert last["child-keeps-stdout"].stdout == b"from-child\n"
    assert last["huge"].stdout == b"huge-ok\n"
    figures.jobs = len(expected)


def test_a_command_past_the_argument_limit_is_refused(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    too_long = _huge_command(MAX_COMMAND_BYTES + 1)
    bulk = tmp_path / "too-long.jsonl"
    bulk.write_text(
        json.dumps({"id": "fine", "command": "true"})
        + "\n"
        + json.dumps({"id": "too-long", "command": too_long})
        + "\n"
    )
    done = subprocess.run(
        queuectl(store_url, "enqueue", "--file", str(bulk)),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "line 2" in lines[0] and f"the {MAX_COMMAND_BYTES} the kernel accepts" in lines[0], (
        lines[0]
    )
    assert store.list_jobs() == []
