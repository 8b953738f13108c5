"""Backends are found by URL scheme: built-ins from a table, others through the
`queuectl.backends` entry-point group; a missing driver is one line naming the extra."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from queuectl.errors import StoreError
from queuectl.store import BUILT_IN, ENTRY_POINT_GROUP, backend_class
from queuectl.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
SPEC = '{"command": "true"}'


def run_cli(*args: str, env: dict[str, str] | None = None, hide: str | None = None) -> str:
    """`queuectl ARGS` in a new process; with `hide`, as if that module were not installed.
    Returns stderr (the exit status must be non-zero then) or stdout."""
    prelude = f"import sys; sys.modules[{hide!r}] = None; " if hide else ""
    code = prelude + "from queuectl.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode:
        return done.stderr
    return done.stdout


def test_the_built_in_table_matches_the_registered_entry_points() -> None:
    registered = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert {name: registered.get(name) for name in BUILT_IN} == BUILT_IN


def test_paths_and_sqlite_urls_open_sqlite(tmp_path: Path) -> None:
    assert backend_class(str(tmp_path / "q.db")) is SqliteStore
    assert backend_class(f"sqlite:///{tmp_path}/q.db") is SqliteStore


def test_an_unknown_scheme_is_one_clear_error() -> None:
    # A database that cannot be used (StoreError), not an invalid job spec (a 422 over HTTP).
    with pytest.raises(StoreError, match="unsupported database URL scheme 'mysql'"):
        backend_class("mysql://user@host/db")


@pytest.mark.parametrize(
    ("url", "module", "line"),
    [
        (
            "postgresql://nobody@127.0.0.1:1/none",
            "psycopg",
            "PostgreSQL support is not installed: pip install 'queuectl[postgres]'",
        ),
        (
            "redis://127.0.0.1:1/0",
            "redis",
            "Redis support is not installed: pip install 'queuectl[redis]'",
        ),
        (
            "rediss://127.0.0.1:1/0",
            "redis",
            "Redis support is not installed: pip install 'queuectl[redis]'",
        ),
    ],
    ids=["postgresql", "redis", "rediss"],
)
def test_a_missing_driver_is_one_line_naming_the_extra(url: str, module: str, line: str) -> None:
    err = run_cli("--db", url, "enqueue", SPEC, hide=module)
    assert err == f"error: {line}\n"


def test_a_package_adds_a_backend_through_the_entry_point_group(tmp_path: Path) -> None:
    """A third-party backend: a module and an entry point, nothing changed in queuectl."""
    (tmp_path / "thirdparty_backend.py").write_text(
        "from queuectl.store.sqlite import SqliteStore\n\n"
        "class FileStore(SqliteStore):\n"
        "    def __init__(self, url, **options):\n"
        "        super().__init__(url.split('://', 1)[1], **options)\n"
    )
    info = tmp_path / "thirdparty_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-backend\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nthirdparty = thirdparty_backend:FileStore\n"
    )
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    url = f"thirdparty://{tmp_path / 'q.db'}"
    assert run_cli("--db", url, "enqueue", "--id", "via-plugin", SPEC, env=env) == "via-plugin\n"
    assert "via-plugin" in run_cli("--db", url, "list", env=env)
    assert (tmp_path / "q.db").exists()
