"""A database where we may not write says why, not only SQLite's "unable to open database
file". Root may write anywhere: as root, queuectl runs without CAP_DAC_OVERRIDE (setpriv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SETPRIV = shutil.which("setpriv")
if os.geteuid() == 0 and SETPRIV is None:
    pytest.skip("root without setpriv: permissions cannot be tested", allow_module_level=True)


@pytest.fixture
def locked_dir() -> Iterator[Path]:
    """A directory, made read-only by the test."""
    base = Path(tempfile.mkdtemp(prefix="queuectl-ro-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        base.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def queuectl(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "queuectl", *args]
    if os.geteuid() == 0:
        assert SETPRIV is not None
        command = [SETPRIV, "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home)}
    env.pop("QUEUECTL_DB", None)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )


def test_a_new_database_in_a_read_only_directory(locked_dir: Path) -> None:
    locked_dir.chmod(0o555)
    done = queuectl("--db", str(locked_dir / "q.db"), "enqueue", "--", "true", home=locked_dir)
    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot open database {locked_dir / 'q.db'}: "
        f"no permission to create files in {locked_dir}\n"
    )


def test_an_existing_database_in_a_read_only_directory(locked_dir: Path) -> None:
    db = locked_dir / "q.db"
    made = subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", str(db), "db", "migrate"],
        capture_output=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    for leftover in (f"{db}-wal", f"{db}-shm"):
        Path(leftover).unlink(missing_ok=True)
    locked_dir.chmod(0o555)
    done = queuectl("--db", str(db), "status", home=locked_dir)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot open database {db}: no permission to create")
    assert "-wal and -shm" in done.stderr and done.stderr.count("\n") == 1
