"""A worker's last words: attempts completed, failed (retry due), dead, and its run time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.not_fast  # real worker processes


def test_a_worker_prints_a_summary_when_it_exits(tmp_path: Path) -> None:
    env = {**os.environ, "QUEUECTL_DB": str(tmp_path / "q.db"), "HOME": str(tmp_path)}
    env["XDG_DATA_HOME"] = env["XDG_STATE_HOME"] = str(tmp_path / "xdg")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done

    cli("db", "migrate")
    cli("config", "set", "backoff-base", "1")  # the retry is due at once
    cli("enqueue", "--", "true")
    cli("enqueue", "--max-retries", "0", "--", "false")
    cli("enqueue", "--max-retries", "1", "--", "false")  # fails, then dies on its retry
    last = cli("worker", "start", "--burst").stderr.splitlines()[-1]
    assert re.search(r"ran \d+\.\ds: 1 completed, 1 failed, 2 dead$", last), last
    quiet = cli("worker", "start", "--burst", "-q")
    assert quiet.stderr == ""
