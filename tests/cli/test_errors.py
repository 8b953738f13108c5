"""Bad input: each error is ONE line on stderr starting with "error:", a non-zero exit
(1: the operation failed, 2: bad usage), no traceback, nothing on stdout, and the
database exactly as it was (every row of every table compared).

Errors of the bulk enqueue are in test_enqueue.py, config values in test_dlq_config.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run, Snapshot

GARBAGE = bytes(range(256)) * 16  # 4 KiB that are not a SQLite header


# The `seeded` fixture: asserts that the database is as it was when seeded.
Unchanged = Callable[[], None]


@pytest.fixture
def seeded(run: Run, snapshot: Snapshot) -> Unchanged:
    """A database with one job and one setting; returns a function that asserts that
    nothing changed since."""
    run("enqueue", '{"id":"existing","command":"echo hi"}').ok()
    run("config", "set", "max-retries", "4").ok()
    before = snapshot()

    def unchanged() -> None:
        assert snapshot() == before

    return unchanged


# -- enqueue: the spec ------------------------------------------------------------------------

BAD_SPECS = {
    "malformed-json": ('{"command":"echo hi"', "malformed JSON"),
    "trailing-garbage": ('{"command":"echo hi"} x', "malformed JSON"),
    "empty-string": ("", "malformed JSON"),
    "array": ('[{"command":"echo hi"}]', "JSON object"),
    "string": ('"echo hi"', "JSON object"),
    "null": ("null", "JSON object"),
    "missing-command": ('{"id":"x"}', "command"),
    "empty-command": ('{"command":""}', "command"),
    "blank-command": ('{"command":" \\t\\n "}', "command"),
    "nul-in-command": ('{"command":"echo \\u0000"}', "command"),
    "unknown-field": ('{"command":"true","retries":3}', "retries"),
    "unknown-field-state": ('{"command":"true","state":"dead"}', "state"),
    "command-not-string": ('{"command":["echo","hi"]}', "command"),
    "command-number": ('{"command":5}', "command"),
    "priority-string": ('{"command":"true","priority":"high"}', "priority"),
    "priority-float": ('{"command":"true","priority":1.5}', "priority"),
    "max-retries-bool": ('{"command":"true","max_retries":true}', "max_retries"),
    "max-retries-float": ('{"command":"true","max_retries":2.5}', "max_retries"),
    "timeout-string": ('{"command":"true","timeout":"5s"}', "timeout"),
    "delay-string": ('{"command":"true","delay":"soon"}', "delay"),
    "queue-number": ('{"command":"true","queue":7}', "queue"),
    "id-number": ('{"command":"true","id":7}', "id"),
    "run-at-number": ('{"command":"true","run_at":1700000000}', "run_at"),
    "negative-max-retries": ('{"command":"true","max_retries":-1}', "max_retries"),
    "negative-timeout": ('{"command":"true","timeout":-0.5}', "timeout"),
    "negative-delay": ('{"command":"true","delay":-10}', "delay"),
    "empty-id": ('{"command":"true","id":""}', "id"),
    "id-with-space": ('{"command":"true","id":"my job"}', "id"),
    "id-too-long": (json.dumps({"command": "true", "id": "x" * 201}), "id"),
    "bad-queue-name": ('{"command":"true","queue":"no spaces"}', "queue"),
    "empty-queue-name": ('{"command":"true","queue":""}', "queue"),
    "run-at-not-iso": ('{"command":"true","run_at":"next tuesday"}', "ISO 8601"),
    "run-at-bad-month": ('{"command":"true","run_at":"2030-13-01T00:00:00"}', "ISO 8601"),
    "run-at-empty": ('{"command":"true","run_at":""}', "ISO 8601"),
    "run-at-and-delay": ('{"command":"true","run_at":"2030-01-01","delay":5}', "run_at"),
}


@pytest.mark.before_store
@pytest.mark.parametrize(("spec", "fragment"), BAD_SPECS.values(), ids=BAD_SPECS.keys())
def test_bad_spec_is_rejected(run: Run, seeded: Unchanged, spec: str, fragment: str) -> None:
    result = run("enqueue", spec)
    result.error(fragment, code=1)
    assert result.stdout == ""
    seeded()


def test_duplicate_id_is_rejected(run: Run, seeded: Unchanged) -> None:
    result = run("enqueue", '{"id":"existing","command":"echo other"}')
    result.error("existing", "already exists", code=1)
    seeded()
    assert run("show", "existing", "--json").ok().json()["command"] == "echo hi"


def test_duplicate_id_given_by_option_is_rejected(run: Run, seeded: Unchanged) -> None:
    run("enqueue", '{"id":"fresh","command":"true"}', "--id", "existing").error("existing")
    seeded()


# -- enqueue: the options ---------------------------------------------------------------------

BAD_OPTIONS = {
    "negative-max-retries": (["--max-retries", "-1"], "--max-retries", 2),
    "float-max-retries": (["--max-retries", "1.5"], "--max-retries", 2),
    "negative-timeout": (["--timeout", "-2"], "--timeout", 2),
    "negative-delay": (["--delay", "-1"], "--delay", 2),
    "word-delay": (["--delay", "soon"], "--delay", 2),
    "word-priority": (["--priority", "high"], "--priority", 2),
    "run-at-not-a-time": (["--run-at", "next tuesday"], "--run-at", 2),
    "run-at-and-delay": (["--run-at", "2030-01-01", "--delay", "5"], "--delay", 2),
    "empty-id": (["--id", ""], "id", 1),
    "bad-queue": (["--queue", "a b"], "queue", 1),
    "unknown-option": (["--retries", "3"], "--retries", 2),
}


@pytest.mark.before_store
@pytest.mark.parametrize(("args", "fragment", "code"), BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_enqueue_option_is_rejected(
    run: Run, seeded: Unchanged, args: list[str], fragment: str, code: int
) -> None:
    result = run("enqueue", '{"command":"true"}', *args)
    result.error(fragment, code=code)
    assert result.stdout == ""
    seeded()


# -- out-of-range numbers: bugs -------------------------------------------------------------

HUGE = "99999999999999999999"  # does not fit SQLite's 64-bit INTEGER


@pytest.mark.before_store
@pytest.mark.parametrize(
    "args",
    [
        ['{"command":"true","priority":' + HUGE + "}"],
        ['{"command":"true","max_retries":' + HUGE + "}"],
        ['{"command":"true"}', "--priority", HUGE],
        ['{"command":"true"}', "--max-retries", HUGE],
    ],
    ids=["spec-priority", "spec-max-retries", "option-priority", "option-max-retries"],
)
def test_integer_too_large_is_rejected(run: Run, seeded: Unchanged, args: list[str]) -> None:
    run("enqueue", *args).error()
    seeded()


@pytest.mark.before_store
@pytest.mark.parametrize(
    "args",
    [
        ['{"command":"true","timeout":NaN}'],
        ['{"command":"true","delay":Infinity}'],
        ['{"command":"true"}', "--timeout", "nan"],
        ['{"command":"true"}', "--delay", "inf"],
    ],
    ids=["spec-nan", "spec-infinity", "option-nan", "option-inf"],
)
def test_non_finite_numbers_are_rejected(run: Run, seeded: Unchanged, args: list[str]) -> None:
    run("enqueue", *args).error()
    seeded()


# A run time no backend can store: test_hostile_input.py.


# -- unknown states, keys and ids -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment", "code", "listed"),
    [
        (["list", "--state", "running"], "--state", 2, "pending"),
        (["list", "--status", "queued"], "--status", 2, "pending"),
        (["purge", "--state", "finished"], "--state", 2, "completed"),
        (["update", '{"id":"existing","state":"waiting"}'], "unknown state", 1, "pending"),
    ],
    ids=["list", "list-status", "purge", "update"],
)
def test_unknown_state_is_rejected(
    run: Run, seeded: Unchanged, args: list[str], fragment: str, code: int, listed: str
) -> None:
    message = run(*args).error(fragment, code=code)
    assert listed in message  # the valid states are listed
    seeded()


@pytest.mark.parametrize(
    "args",
    [
        ["config", "get", "retries"],
        ["config", "set", "retries", "3"],
        ["config", "reset", "retries"],
        ["config-set", "retries", "3"],
        ["config-get", "retries"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_unknown_config_key_is_rejected(run: Run, seeded: Unchanged, args: list[str]) -> None:
    run(*args).error("unknown config key", "retries", code=1)
    seeded()


@pytest.mark.parametrize(
    "args",
    [
        ["show", "ghost"],
        ["show", "ghost", "--json"],
        ["logs", "ghost"],
        ["cancel", "ghost"],
        ["cancel", "existing", "ghost"],
        ["dlq", "retry", "ghost"],
        ["dlq-retry", "ghost"],
        ["update", '{"id":"ghost","priority":1}'],
        ["update", '{"id":"ghost","state":"pending"}'],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_unknown_job_id_is_rejected(run: Run, seeded: Unchanged, args: list[str]) -> None:
    result = run(*args)
    result.error("ghost", code=1)
    seeded()  # all or nothing: `cancel existing ghost` cancels neither
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("{not json", "malformed JSON"),
        ('["existing"]', "id"),
        ('{"priority":1}', "id"),
        ('{"id":"existing"}', "nothing to update"),
        ('{"id":"existing","bogus":1}', "bogus"),
        ('{"id":"existing","delay":5}', "delay"),
        ('{"id":"existing","priority":"high"}', "priority"),
        ('{"id":"existing","command":""}', "command"),
        ('{"id":"existing","max_retries":-1}', "max_retries"),
        ('{"id":"existing","run_at":"someday"}', "ISO 8601"),
    ],
)
def test_bad_update_is_rejected(run: Run, seeded: Unchanged, spec: str, fragment: str) -> None:
    run("update", spec).error(fragment, code=1)
    seeded()


# -- a --db that cannot be used -----------------------------------------------------------------


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal")]


def _other_app_db(path: Path, migrations: str | None = None) -> None:
    """Another program's database; `migrations` is its own `schema_migrations` table (as
    Rails and others keep one), with a row."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
        if migrations is not None:
            conn.execute(f"CREATE TABLE schema_migrations ({migrations})")
            conn.execute("INSERT INTO schema_migrations VALUES ('20230101120000')")
    conn.close()


def _sqlite_contents(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        return [*schema, *conn.execute("SELECT * FROM users").fetchall()]
    finally:
        conn.close()


COMMANDS = {
    "enqueue": ["enqueue", '{"command":"true"}'],
    "list": ["list"],
    "status": ["status", "--json"],
    "show": ["show", "x"],
    "config-set": ["config", "set", "max-retries", "5"],
    "db-migrate": ["db", "migrate"],
    "init": ["init"],
    "ping": ["ping"],
}


def _unusable(kind: str, tmp_path: Path) -> tuple[Path, str, str]:
    """Make the unusable database of `kind`: (its path, the --db value, what the error
    must say)."""
    target = tmp_path / "target.db"
    other_app = {"other-app": None, "other-app-migrations": "name TEXT"}  # no `version`
    other_app["other-app-text-versions"] = "version TEXT PRIMARY KEY"
    if kind == "directory":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
        return target, str(target), "directory"
    if kind == "missing-directory":
        target = tmp_path / "missing" / "queue.db"
        return target, str(target), "does not exist"
    if kind in ("garbage", "text"):
        target.write_bytes(GARBAGE if kind == "garbage" else b"id,command\n1,echo hi\n")
        return target, str(target), "not a SQLite database"
    if kind in other_app:
        _other_app_db(target, other_app[kind])
        return target, str(target), "not a queuectl"
    return target, f"mysql://user@host/{target.name}", "mysql"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize(
    "kind",
    [
        "directory",
        "missing-directory",
        "garbage",
        "text",
        "other-app",
        "other-app-migrations",
        "other-app-text-versions",
        "bad-scheme",
    ],
)
def test_unusable_db_is_an_error_and_left_alone(
    run: Run, tmp_path: Path, kind: str, command: list[str]
) -> None:
    target, url, fragment = _unusable(kind, tmp_path)
    before = target.read_bytes() if target.is_file() else None
    contents = _sqlite_contents(target) if kind.startswith("other-app") else None

    result = run("--db", url, *command)

    result.error(fragment, code=1)
    assert result.stdout == ""
    if kind == "directory":
        assert sorted(os.listdir(target)) == ["keep.txt"]
    elif kind == "missing-directory":
        assert not target.parent.exists()
    elif before is not None:
        assert target.read_bytes() == before
        assert not any(p.exists() for p in _sidecars(target))
    if contents is not None:
        assert _sqlite_contents(target) == contents


@pytest.mark.sqlite_only
def test_unusable_db_from_the_environment(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(GARBAGE)
    result = run("list", env={"QUEUECTL_DB": str(bad)})
    result.error("not a SQLite database", code=1)
    assert bad.read_bytes() == GARBAGE


@pytest.mark.sqlite_only
def test_damaged_queuectl_database_is_an_error(run: Run, db: str) -> None:
    run("enqueue", '{"id":"a","command":"true"}').ok()
    data = bytearray(Path(db).read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # wreck the schema page
    Path(db).write_bytes(bytes(data))

    run("list").error(code=1)


# -- usage errors -------------------------------------------------------------------------------


@pytest.mark.uncreated
@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["enqueue", "--no-such-flag", '{"command":"true"}'],
        ["show"],
        ["cancel"],
        ["update"],
        ["list", "--limit", "-1"],
        ["list", "--limit", "many"],
        ["dlq", "explode"],
        ["config", "set", "max-retries"],
        ["logs", "x", "--attempt", "-1"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_usage_errors_exit_2_with_one_line_and_touch_nothing(
    run: Run, db: str, args: list[str]
) -> None:
    result = run(*args)
    message = result.error(code=2)
    assert "--help" in message  # points to the help
    assert not Path(db).exists()


@pytest.mark.sqlite_only
def test_a_locked_database_is_one_line_and_changes_nothing(db: str, tmp_path: Path) -> None:
    """Another process holds the write lock longer than the busy timeout."""
    import os
    import sqlite3
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "queuectl", "--db", db, "db", "migrate"], check=True)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        env = {**os.environ, "QUEUECTL_SQLITE_BUSY_TIMEOUT": "0.3"}
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", "--db", db, "enqueue", '{"command":"true"}'],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database ")
    assert "is locked" in lines[0]
    count = sqlite3.connect(db).execute("SELECT count(*) FROM jobs").fetchone()[0]
    assert count == 0


@pytest.mark.before_store
@pytest.mark.parametrize(
    ("spec", "meant"),
    [
        ('{"comand":"true"}', "command"),
        ('{"command":"true","max_retry":3}', "max_retries"),
        ('{"command":"true","priorty":3}', "priority"),
    ],
)
def test_a_mistyped_spec_field_gets_a_suggestion(
    run: Run, seeded: Unchanged, spec: str, meant: str
) -> None:
    run("enqueue", spec).error(f"did you mean `{meant}`?", code=1)
    seeded()


@pytest.mark.before_store
def test_an_unknown_field_far_from_any_gets_no_suggestion(run: Run, seeded: Unchanged) -> None:
    assert "did you mean" not in run("enqueue", '{"command":"true","zzz":1}').error("zzz")


READERS = {
    "list": ["list"],
    "status-json": ["status", "--json"],  # the fast path
    "status": ["status"],
    "show": ["show", "x"],
    "logs": ["logs", "x"],
    "cancel": ["cancel", "x"],
    "config-set": ["config", "set", "max-retries", "5"],
    "dlq-list": ["dlq", "list"],
    "worker-list": ["worker", "list"],
    "ping": ["ping"],
}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", READERS.values(), ids=READERS.keys())
def test_a_mistyped_db_is_an_error_and_creates_nothing(
    run: Run, tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "queu.db"
    result = run("--db", str(typo), *command)
    result.error("no queuectl database at", "does not exist", code=1)
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("queu.")) == []


@pytest.mark.sqlite_only
def test_commands_that_add_work_create_the_database(run: Run, tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    run("--db", str(new), "enqueue", "--", "true").ok()
    assert new.exists()
    assert len(run("--db", str(new), "list", "--json").ok().json()) == 1
    migrated = tmp_path / "migrated.db"
    run("--db", str(migrated), "db", "migrate").ok()
    run("--db", str(migrated), "status").ok()


@pytest.mark.before_store
@pytest.mark.parametrize("url", ["postgresql://", "postgresql://queue@127.0.0.1:1", "postgres:///"])
def test_a_postgres_url_without_a_database_name_is_refused(run: Run, url: str) -> None:
    result = run("--db", url, "enqueue", "--", "true")
    result.error("names no database", code=1)


@pytest.mark.before_store
@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/x", "redis://127.0.0.1:1/queue", "rediss://h/1a"]
)
def test_a_redis_url_whose_database_is_not_a_number_is_refused(run: Run, url: str) -> None:
    """It would silently have used database 0."""
    run("--db", url, "list").error("is not a number", code=1)
