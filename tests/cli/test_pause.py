"""`queuectl pause [QUEUE...]` / `resume`: a running worker stops starting jobs of a paused
queue (its running jobs go on) and starts them again on resume; `status` shows it. Also
`status --queue Q`. A real foreground worker process; conditions polled, never slept on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run, Snapshot
from tests.helpers import wait_for


@pytest.mark.not_fast  # a real worker process
def test_pause_and_resume_with_a_running_worker(tmp_path: Path) -> None:
    env = {**os.environ, "QUEUECTL_DB": str(tmp_path / "q.db"), "HOME": str(tmp_path)}
    env["XDG_DATA_HOME"] = env["XDG_STATE_HOME"] = str(tmp_path / "xdg")

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def state(job_id: str) -> str:
        return str(json.loads(cli("show", job_id, "--json"))["state"])

    gate = tmp_path / "gate"
    cli(
        "enqueue",
        "--id",
        "long",
        "--queue",
        "ci",
        "--",
        f"while [ ! -e {gate} ]; do sleep 0.02; done",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "worker", "start", "--count", "1", "-q"], env=env
    )
    try:
        wait_for(lambda: state("long") == "processing", what="the long job to start")
        assert cli("pause", "ci") == "paused: ci\n"
        # Enqueued first, so an unpaused queue would run `held` before `free`.
        cli("enqueue", "--id", "held", "--queue", "ci", "--priority", "9", "--", "true")
        cli("enqueue", "--id", "free", "--", "true")
        gate.touch()
        wait_for(lambda: state("long") == "completed", what="the running job to go on")
        wait_for(lambda: state("free") == "completed", what="the other queue to run")
        assert state("held") == "pending"
        status = cli("status")
        assert "Paused: ci" in status
        shown = json.loads(cli("status", "--queue", "ci", "--json"))
        assert shown["paused"] == ["ci"] and shown["jobs"]["pending"] == 1
        assert list(shown["queues"]) == ["ci"]
        assert cli("resume") == "no queue is paused\n"
        wait_for(lambda: state("held") == "completed", what="the resumed queue to run")
        assert "Paused" not in cli("status")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def test_a_bad_queue_name_is_refused(run: Run, snapshot: Snapshot) -> None:
    run("status").ok()  # create the database
    before = snapshot()
    run("pause", "a b").error("queue", code=1)
    assert snapshot() == before
