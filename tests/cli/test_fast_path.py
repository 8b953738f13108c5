"""The Click-free fast path for `enqueue SPEC` and `status --json` (queuectl.cli.fast):
the same output, errors, exit codes and stored rows as the Click app, for a set of inputs
run once each way on twin databases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from queuectl.cli import fast
from tests.cli.conftest import Result, Run

pytestmark = pytest.mark.sqlite_only  # twin SQLite files, compared row by row

ENQUEUE_CASES = [
    ("enqueue", '{"id":"a1","command":"echo hi"}'),
    ("enqueue", '{"id":"a1","command":"echo again"}'),  # duplicate of the first
    ("enqueue", '{"id":"p1","command":"true","priority":5,"queue":"q1","delay":3600}'),
    ("enqueue", '{"command":""}'),
    ("enqueue", "not json"),
    ("enqueue", "[1, 2]"),
    ("enqueue", '{"id":"bad id!","command":"true"}'),
    ("enqueue", '{"id":"u1","command":"true","colour":"red"}'),
    ("enqueue", '{"id":"n1","command":"true","max_retries":-1}'),
    ("enqueue", ""),
    ("enqueue", '{"id":"s1","command":"echo \udcff"}'),
    ("status", "--json"),
    ("enqueue", "--db"),  # not a fast form: both ways end in Click
    ("status", "--json", "--json"),
]


def _both_ways(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...]
) -> tuple[Result, Result]:
    fast_db = str(tmp_path / "fast.db")
    click_db = str(tmp_path / "click.db")
    fast_result = run(*args, env={"QUEUECTL_DB": fast_db})
    with monkeypatch.context() as patch:
        patch.setattr(fast, "parse", lambda argv: None)
        click_result = run(*args, env={"QUEUECTL_DB": click_db})
    return fast_result, click_result


def _timeless(stdout: str) -> str:
    """The output with waiting times (which differ from one run to the next) as "age"."""
    return re.sub(r'"oldest_pending_age": [0-9.e-]+', '"oldest_pending_age": "age"', stdout)


def _rows(path: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT id, command, queue, state, priority, max_retries, own_max_retries"
            " FROM jobs ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def test_fast_and_click_paths_agree(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for args in ENQUEUE_CASES:
        fast_result, click_result = _both_ways(run, monkeypatch, tmp_path, args)
        assert fast_result.exception is None, fast_result.stderr
        assert (fast_result.exit_code, _timeless(fast_result.stdout), fast_result.stderr) == (
            click_result.exit_code,
            _timeless(click_result.stdout),
            click_result.stderr,
        ), args
    assert _rows(tmp_path / "fast.db") == _rows(tmp_path / "click.db")
    assert [row[0] for row in _rows(tmp_path / "fast.db")] == ["a1", "p1"]


def test_db_option_before_and_after_the_command(run: Run, tmp_path: Path) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    run("--db", str(first), "enqueue", '{"id":"x1","command":"true"}').ok()
    run("enqueue", '{"id":"x2","command":"true"}', f"--db={second}").ok()
    run("--db", str(first), "enqueue", "--db", str(second), '{"id":"x3","command":"true"}').ok()
    assert [row[0] for row in _rows(first)] == ["x1"]
    assert [row[0] for row in _rows(second)] == ["x2", "x3"]
    status = run("status", "--json", "--db", str(second)).ok().json()
    assert status["jobs"]["pending"] == 2


def test_enqueue_and_status_json_import_no_more_than_they_use(tmp_path: Path) -> None:
    """No Click; no platformdirs for the default database on Linux; no typing_extensions
    (msgspec would import it when installed, as it is here)."""
    unused = ["click", "queuectl.cli.app", "platformdirs", "typing_extensions"]
    code = (
        "import sys\n"
        "from queuectl.cli import main\n"
        "main(sys.argv[1:])\n"
        f"print([m for m in {unused!r} if m in sys.modules])\n"
    )
    env = {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # where enqueue remembers its job
        "PATH": "/usr/bin:/bin",
    }
    for args in (["enqueue", '{"id":"c1","command":"true"}'], ["status", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
        )
        assert done.stdout.splitlines()[-1] == "[]", done.stdout
        if args[0] == "status":
            assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["jobs"]["pending"] == 1
