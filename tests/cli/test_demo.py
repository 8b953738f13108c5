"""`queuectl demo`: the README's first command, run as a new user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import open_store

pytestmark = pytest.mark.slow


def test_demo_runs_every_job_to_its_end_on_a_fresh_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QUEUECTL_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path)
    mine = tmp_path / "mine.db"
    env["QUEUECTL_DB"] = str(mine)  # the user's own queue: the demo must not touch it
    for _ in range(2):  # a second run starts from a fresh demo database again
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", "demo"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "Dead letter queue" in done.stdout
    demo_db = tmp_path / "queuectl" / "demo.db"
    assert f"demo database: {demo_db}" in done.stdout
    assert not mine.exists()
    store = open_store(str(demo_db))
    try:
        states = {job.id: job.state for job in store.list_jobs()}
        assert states == {
            "demo-hello": JobState.COMPLETED,
            "demo-sleep": JobState.COMPLETED,
            "demo-count": JobState.COMPLETED,
            "demo-fail": JobState.DEAD,
            "demo-timeout": JobState.DEAD,
        }
        assert len(store.list_attempts("demo-fail")) == 3  # first try + 2 retries
        assert store.list_attempts("demo-timeout")[0].error == "timeout after 0.5s"
    finally:
        store.close()
    assert not (tmp_path / "queuectl" / "queuectl.db").exists(), "demo touched the real queue"
