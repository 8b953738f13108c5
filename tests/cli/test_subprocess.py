"""Real runs of the installed `queuectl` command (and `python -m queuectl`), each in a new
process: the database is found through QUEUECTL_DB or --db, data outlives the process
that wrote it, and the schema migrations apply once, also when processes race."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.store import queries
from tests.cli.conftest import Run

# The schema versions this queuectl ships (every test below follows them).

QUEUECTL = Path(sys.executable).with_name("queuectl")
LATEST = queries.latest_migration("sqlite")
NEXT = LATEST + 1  # the migration a newer queuectl would bring


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for child processes: no QUEUECTL_DB, a private data dir."""
    base = {k: v for k, v in os.environ.items() if k != "QUEUECTL_DB"}
    return {**base, "XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}


def queuectl(
    *args: str, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(QUEUECTL), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_console_script_is_installed() -> None:
    assert QUEUECTL.is_file() and os.access(QUEUECTL, os.X_OK)


def test_the_installed_command_reaches_the_launcher_before_any_other_import(
    env: dict[str, str],
) -> None:
    """The `queuectl` script imports nothing before queuectl.launcher (a console-script
    wrapper's `import re` alone costs about as much as handing the command over)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(QUEUECTL), "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "queuectl.launcher" in imported and "re" in imported
    before = imported[: imported.index("queuectl.launcher")]
    assert "re" not in before and "enum" not in before


def test_enqueue_list_status_through_queuectl_db(tmp_path: Path, env: dict[str, str]) -> None:
    env["QUEUECTL_DB"] = str(tmp_path / "env.db")

    assert ok(queuectl("enqueue", '{"id":"job1","command":"echo hi"}', env=env)) == "job1\n"
    jobs = json.loads(ok(queuectl("list", "--json", env=env)))
    assert [(j["id"], j["state"]) for j in jobs] == [("job1", "pending")]
    status = json.loads(ok(queuectl("status", "--json", env=env)))
    assert status["jobs"]["pending"] == 1
    assert (tmp_path / "env.db").is_file()
    assert not (tmp_path / "xdg" / "queuectl").exists()  # the default db was not used


def test_db_option_and_sqlite_url(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "opt.db"
    env["QUEUECTL_DB"] = str(tmp_path / "ignored.db")  # --db wins over the variable

    ok(queuectl("--db", str(path), "enqueue", '{"id":"a","command":"true"}', env=env))
    ok(queuectl("--db", f"sqlite:///{path}", "enqueue", '{"id":"b","command":"true"}', env=env))

    listed = json.loads(ok(queuectl("--db", str(path), "list", "--json", env=env)))
    assert [j["id"] for j in listed] == ["b", "a"]
    assert "a" in ok(queuectl("--db", str(path), "list", env=env))
    assert not (tmp_path / "ignored.db").exists()


def test_default_database_lives_in_the_user_data_dir(tmp_path: Path, env: dict[str, str]) -> None:
    ok(queuectl("enqueue", '{"id":"d","command":"true"}', env=env))
    assert (tmp_path / "xdg" / "queuectl" / "queuectl.db").is_file()
    assert "d" in ok(queuectl("list", env=env))


@pytest.mark.parametrize("xdg", ["", "relative/dir"])
def test_without_a_usable_xdg_data_home_the_default_is_under_home(
    tmp_path: Path, env: dict[str, str], xdg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XDG rule: only an absolute $XDG_DATA_HOME counts; else ~/.local/share."""
    monkeypatch.chdir(tmp_path)  # where a relative one would wrongly land
    env["XDG_DATA_HOME"] = xdg
    ok(queuectl("enqueue", '{"id":"d","command":"true"}', env=env))
    assert (tmp_path / "home" / ".local" / "share" / "queuectl" / "queuectl.db").is_file()
    assert not (tmp_path / "relative").exists()


def test_python_dash_m_help_and_version(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "queuectl", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: queuectl ")
    assert "enqueue" in done.stdout and "worker-start" not in done.stdout
    version = ok(queuectl("--version", env=env))
    assert re.match(r"^queuectl, version \d+\.\d+", version)


def test_errors_are_one_line_with_exit_codes(tmp_path: Path, env: dict[str, str]) -> None:
    env["QUEUECTL_DB"] = str(tmp_path / "e.db")

    failed = queuectl("enqueue", '{"command":""}', env=env)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("error: ")
    assert failed.stdout == ""

    usage = queuectl("list", "--state", "running", env=env)
    assert usage.returncode == 2
    assert usage.stderr.count("\n") == 1 and usage.stderr.startswith("error: ")

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00\x01not sqlite" * 100)
    bad_db = queuectl("--db", str(garbage), "status", env=env)
    assert bad_db.returncode == 1
    assert bad_db.stderr.startswith("error: ") and "Traceback" not in bad_db.stderr


def test_bulk_enqueue_from_stdin(tmp_path: Path, env: dict[str, str]) -> None:
    env["QUEUECTL_DB"] = str(tmp_path / "bulk.db")
    text = "".join(json.dumps({"id": f"s{n}", "command": "true"}) + "\n" for n in range(50))
    printed = ok(queuectl("enqueue", "--file", "-", env=env, input=text))
    assert printed.split() == [f"s{n}" for n in range(50)]
    assert len(json.loads(ok(queuectl("list", "--json", "--limit", "0", env=env)))) == 50


def test_output_cut_short_by_the_reader_is_not_an_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """`queuectl list --json | head -1`: the reader leaves early; exit 0, no noise."""
    env["QUEUECTL_DB"] = str(tmp_path / "pipe.db")
    text = "".join(json.dumps({"command": f"echo {n}"}) + "\n" for n in range(1000))
    ok(queuectl("enqueue", "--file", "-", env=env, input=text))

    child = subprocess.Popen(
        [str(QUEUECTL), "list", "--json", "--limit", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(10)  # far more than a pipe buffer is coming; take a little
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=60) == 0, err
    assert b"Traceback" not in err and b"Exception" not in err


# -- the migration path ---------------------------------------------------------------------


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def applied(path: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        conn.close()


ALL = list(range(1, LATEST + 1))
NOTHING_TO_APPLY = f"schema version {LATEST} (nothing to apply)\n"


def test_migrate_then_reopen_in_new_processes(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "life.db"
    env["QUEUECTL_DB"] = str(path)

    first = ok(queuectl("db", "migrate", env=env))
    assert first.startswith(f"schema version {LATEST} ")
    assert {"jobs", "attempts", "config", "workers", "schema_migrations"} <= tables(path)
    assert ok(queuectl("db", "migrate", env=env)) == NOTHING_TO_APPLY

    ok(queuectl("enqueue", '{"id":"kept","command":"echo kept","priority":3}', env=env))
    ok(queuectl("config", "set", "max-retries", "8", env=env))

    # Each command above was its own process: the data is in the file, not in memory.
    [job] = json.loads(ok(queuectl("list", "--json", env=env)))
    assert (job["id"], job["command"], job["priority"]) == ("kept", "echo kept", 3)
    assert ok(queuectl("config", "get", "max-retries", env=env)) == "8\n"
    assert ok(queuectl("init", env=env)) == NOTHING_TO_APPLY
    assert applied(path) == ALL
    [again] = json.loads(ok(queuectl("list", "--json", env=env)))
    assert again == job


def test_first_use_migrates_without_db_migrate(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "auto.db"
    env["QUEUECTL_DB"] = str(path)
    ok(queuectl("enqueue", "--", "true", env=env))  # adding work creates the queue
    assert json.loads(ok(queuectl("status", "--json", env=env)))["jobs"]["pending"] == 1
    assert applied(path) == ALL


def test_concurrent_migrations_of_a_new_database(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "race.db"
    env["QUEUECTL_DB"] = str(path)
    children = [
        subprocess.Popen(
            [str(QUEUECTL), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["db", "migrate"], ["init"], ["db", "migrate"], ["enqueue", "--", "true"])
    ]
    for child in children:
        _out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert applied(path) == ALL
    assert ok(queuectl("db", "migrate", env=env)) == NOTHING_TO_APPLY


@pytest.fixture
def next_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the store's SQL files plus the migration after the latest, made the
    active set (in this process only)."""
    source = Path(queries._HERE)
    copy = tmp_path / "store-v2"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "migrations" / "sqlite" / f"{LATEST + 1:04d}_job_notes.sql").write_text(
        "-- A later schema change: a free-text note on each job.\n"
        "ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT '';\n"
        "CREATE INDEX jobs_note ON jobs (note);\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(queries, "_HERE", str(copy))


@pytest.mark.sqlite_only
def test_upgrade_of_an_existing_database_keeps_its_data(
    run: Run, db: str, request: pytest.FixtureRequest
) -> None:
    run("enqueue", '{"id":"old","command":"echo old","priority":2}').ok()
    run("config", "set", "grace-period", "9").ok()
    old_job = run("show", "old", "--json").ok().json()
    assert applied(Path(db)) == ALL

    request.getfixturevalue("next_migration")  # a newer queuectl opens the same file

    assert run("db", "migrate").ok().stdout.startswith(f"schema version {LATEST + 1} ")
    assert applied(Path(db)) == [*ALL, LATEST + 1]
    conn = sqlite3.connect(db)
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(jobs)")]
        notes = conn.execute("SELECT id, note FROM jobs").fetchall()
    finally:
        conn.close()
    assert "note" in columns
    assert notes == [("old", "")]
    assert run("show", "old", "--json").ok().json() == old_job
    assert run("config", "get", "grace-period").ok().stdout == "9\n"
    assert run("db", "migrate").ok().stdout == f"schema version {LATEST + 1} (nothing to apply)\n"
    run("enqueue", '{"id":"new","command":"true"}').ok()
    assert [j["id"] for j in run("list", "--json").ok().json()] == ["new", "old"]


@pytest.mark.parametrize(
    "args", [[], ["--help"], ["dlq"], ["worker"], ["config"], ["db"], ["list", "--help"]]
)
def test_help_into_a_closed_pipe_is_quiet_and_exits_0(args: list[str], env: dict[str, str]) -> None:
    """`queuectl --help | true`: the reader left before the help was written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [str(QUEUECTL), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")
