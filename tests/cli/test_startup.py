"""What keeps the short commands quick to start, checked without timing anything: what
they import (cli/lean_imports.py), how the process ends (cli.leave_now), and that the
cycle collector rests while the fast path runs. The work a store does when it opens is
checked in tests/store/test_opening_costs.py."""

from __future__ import annotations

import gc
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.cli import lean_imports
from tests.cli.conftest import Run

# Loaded by importlib.metadata alone here: a short command that imports none of them did
# not scan the installed distributions for its driver's version.
METADATA_MODULES = ["importlib.metadata", "email.message", "csv"]

_REPORT = (
    "import json, sys\n"
    "from queuectl.cli import fast\n"
    "try:\n"
    "    fast.run(sys.argv[1:])\n"
    "finally:\n"
    "    names = {names!r}\n"
    "    print(json.dumps([name for name in names if name in sys.modules]))\n"
)


def _loaded_after(args: list[str], db: str, names: list[str], tmp_path: Path) -> list[str]:
    """Which of `names` a fast-path command loaded, in a fresh interpreter of its own."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "QUEUECTL_DB": db,
    }
    code = _REPORT.format(names=names)
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("args", [["enqueue", '{"command":"true"}'], ["status", "--json"]])
def test_a_short_command_reads_its_drivers_version_without_importlib_metadata(
    db: str, backend: str, args: list[str], tmp_path: Path
) -> None:
    driver = {"sqlite": "sqlite3", "postgres": "psycopg", "redis": "redis"}[backend]
    loaded = _loaded_after(args, db, [driver, *METADATA_MODULES], tmp_path)
    assert loaded == [driver], loaded


@pytest.mark.parametrize("name", ["psycopg", "psycopg-binary", "psycopg_binary", "redis", "click"])
def test_versions_read_from_dist_info_folders_are_importlib_metadatas(name: str) -> None:
    assert lean_imports.dist_info_version(name) == importlib.metadata.version(name)


def test_a_version_the_folders_cannot_tell_comes_from_importlib_metadata() -> None:
    stand_in = lean_imports.MetadataVersions("importlib.metadata")
    assert lean_imports.dist_info_version("no-such-distribution") is None
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        stand_in.version("no-such-distribution")
    assert stand_in.PackageNotFoundError is importlib.metadata.PackageNotFoundError


def _console(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`queuectl ARGS` as the console script runs it (main() with no argv), with an
    atexit hook that says whether the interpreter tore itself down."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('torn down', file=sys.stderr))\n"
        "from queuectl.cli import main\n"
        "main()\n"
    )
    env = {**os.environ, "QUEUECTL_DB": db}
    return subprocess.run(
        [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, env=env
    )


@pytest.mark.sqlite_only
def test_the_console_script_ends_at_once_after_a_fast_command(db: str) -> None:
    """Output written and flushed, exit code kept, and no interpreter tear-down."""
    done = _console(db, "enqueue", '{"id":"j1","command":"true"}')
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "j1", "")
    done = _console(db, "status", "--json")
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["jobs"]["pending"] == 1
    done = _console(db, "show", "nope")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "torn down" not in done.stderr


@pytest.mark.sqlite_only
def test_the_console_script_ends_cleanly_with_stderr_closed(db: str) -> None:
    """A process started without a stderr (`2>&-`) has sys.stderr None: nothing to flush."""
    code = "from queuectl.cli import main; main()"
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" status --json 2>&-', sys.executable, code],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "QUEUECTL_DB": db},
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["jobs"]["pending"] == 0


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", [["enqueue", "--", "true"], ["status"], ["list"]])
def test_a_command_with_stdout_closed_does_its_work_and_exits_0(
    db: str, command: list[str]
) -> None:
    """`queuectl enqueue ... >&-`: nobody reads the answer, as when a reader left; the job
    is added and the exit is 0, with no traceback."""
    code = "from queuectl.cli import main; main()"
    script = 'p="$0" c="$1"; shift; exec "$p" -c "$c" "$@" >&-'
    done = subprocess.run(
        ["sh", "-c", script, sys.executable, code, *command],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "QUEUECTL_DB": db},
    )
    assert (done.returncode, done.stderr) == (0, "")
    if command[0] == "enqueue":
        listed = subprocess.run(
            [sys.executable, "-m", "queuectl", "list", "--json"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "QUEUECTL_DB": db},
        )
        assert len(json.loads(listed.stdout)) == 1


@pytest.mark.sqlite_only
def test_a_click_command_and_a_caller_of_main_still_end_as_usual(db: str, run: Run) -> None:
    """Only the fast path in queuectl's own process skips the tear-down: a Click command
    (workers, servers: threads to join) ends normally, and so does a caller's main(argv)."""
    done = _console(db, "config", "get", "max-retries")
    assert done.returncode == 0 and "torn down" in done.stderr
    run("status").ok()  # in this very process: it returned


@pytest.mark.sqlite_only
def test_the_fast_path_runs_without_the_cycle_collector_and_restores_it(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = lean_imports.import_driver

    def import_driver(url: str) -> None:
        seen.append(gc.isenabled())
        real(url)

    monkeypatch.setattr(lean_imports, "import_driver", import_driver)
    assert gc.isenabled()
    run("status").ok()
    assert seen == [False]
    assert gc.isenabled()
