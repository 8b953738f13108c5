"""Fixtures for the CLI tests.

- `db`: a fresh, empty queue as --db takes it, on each backend of tests.conftest.BACKENDS
  whose data outlives a process: a SQLite file in tmp_path, a PostgreSQL database, a
  Redis key prefix. Tests marked `sqlite_only`, `uncreated` or `before_store` run on
  SQLite alone (SQLITE_ONLY says why); `backend` names the backend of the test.
- `run`: calls `queuectl.cli.main` in-process, the way the console script does (sys.exit
  included), with QUEUECTL_DB set to `db`; stdout and stderr are captured separately.
  `result.ok()` and `result.error(...)` hold the checks every test shares.
- `put`: enqueues a job straight into the store and drives it to a state the way a
  worker would (claim, complete or fail), without running anything.
- `twin`: a second empty database on the test's backend, to run the same commands
  another way and compare.
- `snapshot` / `stored_ids`: the database read with the backend's own driver
  (tests.cli.stored), to prove that a failed command changed nothing.

Helpers are fixtures (or methods of Result) so test modules import nothing from here
but the fixtures' types (Run, Put, Snapshot, StoredIds), to annotate with.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner

from queuectl.cli import main
from queuectl.models import NewJob, RunResult
from queuectl.store import open_store
from tests.cli import stored
from tests.conftest import BACKENDS, IN_ONE_PROCESS, as_claimed

TEST_WORKER = "test-worker"
# A test with one of these marks runs on SQLite alone: it checks SQLite's own files
# (sqlite_only, uncreated), or what it checks is refused before any store is opened, where
# the backend cannot change the outcome (before_store: help, usage, input).
SQLITE_ONLY = ("sqlite_only", "uncreated", "before_store")


@dataclass(frozen=True)
class Result:
    """What one `queuectl` invocation produced."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None  # escaped main(): the user would see a traceback

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def ok(self) -> Result:
        """Assert success: exit 0, no traceback."""
        assert self.exception is None, self.stderr
        assert self.exit_code == 0, f"exit {self.exit_code}; stderr: {self.stderr}"
        return self

    def error(self, *fragments: str, code: int | None = None) -> str:
        """Assert the error contract: exactly one stderr line starting with 'error: ',
        a non-zero exit (`code` if given), no traceback; each fragment in the message
        (case-insensitive). Returns the message after 'error: '."""
        assert self.exception is None, f"traceback:\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        assert self.exit_code != 0, f"succeeded; stdout: {self.stdout!r}"
        if code is not None:
            assert self.exit_code == code, f"exit {self.exit_code}: {self.stderr}"
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got {self.stderr!r}"
        assert lines[0].startswith("error: "), lines[0]
        message = lines[0][len("error: ") :]
        for fragment in fragments:
            assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
        return message


class Run(Protocol):
    """The `run` fixture: queuectl in-process with these arguments."""

    def __call__(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result: ...


class Put(Protocol):
    """The `put` fixture: `put_in_state` on the test's database."""

    def __call__(
        self,
        job_id: str,
        state: str,
        *,
        command: str = ...,
        queue: str | None = ...,
        max_retries: int | None = ...,
        stdout: bytes = ...,
        stderr: bytes = ...,
        exit_code: int | None = ...,
        **fields: Any,
    ) -> None: ...


class Snapshot(Protocol):
    """The `snapshot` fixture: everything stored in the test's database (or in `path`)."""

    def __call__(self, path: str | None = None) -> stored.Contents: ...


StoredIds = Callable[[], list[str]]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never touch the user's real default database; no terminal-dependent output."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))  # enqueue's --last
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("QUEUECTL_DB", "COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses `db` runs once per backend whose data outlives a process (each
    command a user runs is a process of its own), unless it is marked to run on SQLite
    alone."""
    if "db" not in metafunc.fixturenames:
        return
    if any(metafunc.definition.get_closest_marker(mark) for mark in SQLITE_ONLY):
        return  # `db` is SQLite's, and the test's id stays as it was
    names = [name for name in BACKENDS if name not in IN_ONE_PROCESS]
    params = [pytest.param(name, id=name, marks=BACKENDS[name][1]) for name in names]
    metafunc.parametrize("db", params, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend (a BACKENDS name) that `db` belongs to."""
    callspec = getattr(request.node, "callspec", None)
    name: str = callspec.params.get("db", "sqlite") if callspec else "sqlite"
    return name


@pytest.fixture
def db(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> Iterator[str]:
    """An empty queue, as --db takes it (see the module's docstring). It is created, since
    only commands that add work create a database (the others refuse a missing SQLite
    file), except in tests marked `uncreated`, which check that nothing creates it."""
    if backend == "sqlite":
        path = str(tmp_path / "queue.db")
        if request.node.get_closest_marker("uncreated") is None:
            open_store(path).close()
        yield path
        return
    fresh_database, _ = BACKENDS[backend]
    with fresh_database(tmp_path) as url:
        open_store(url).close()
        yield url


def _invoke(
    args: tuple[str, ...], input: str | bytes | None, env: Mapping[str, str | None]
) -> Result:
    runner = CliRunner()
    exception: BaseException | None = None
    with runner.isolation(input=input, env=env) as (out, err, _mixed):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            if done.code is None:
                code = 0
            elif isinstance(done.code, int):
                code = done.code
            else:  # sys.exit("message") prints the message and exits 1
                print(done.code, file=sys.stderr)
                code = 1
        except Exception as escaped:  # what the user would see as a traceback
            exception = escaped
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    return Result(exit_code=code, stdout=stdout, stderr=stderr, exception=exception)


@pytest.fixture
def run(db: str) -> Run:
    """`run("list", "--json")`: queuectl in-process against `db` (via QUEUECTL_DB).
    `env` adds or removes (None) environment variables; `input` is stdin."""

    def _run(
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        return _invoke(args, input, {"QUEUECTL_DB": db, **(env or {})})

    return _run


@pytest.fixture
def snapshot(db: str) -> Snapshot:
    """`snapshot()`: everything queuectl keeps in `db` (or in `path`): tests.cli.stored."""

    def _snapshot(path: str | None = None) -> stored.Contents:
        return stored.contents(path or db)

    return _snapshot


@pytest.fixture
def stored_ids(db: str) -> StoredIds:
    """`stored_ids()`: ids of the jobs in `db`, in enqueue order ([] if no file yet)."""
    return lambda: stored.job_ids(db)


@pytest.fixture
def put(db: str) -> Put:
    """`put("job1", "dead", stdout=b"...")`: see `put_in_state`."""

    def _put(job_id: str, state: str, **kwargs: Any) -> None:
        put_in_state(db, job_id, state, **kwargs)

    return _put


def put_in_state(
    db: str,
    job_id: str,
    state: str,
    *,
    command: str = "true",
    queue: str | None = None,
    max_retries: int | None = None,
    stdout: bytes = b"",
    stderr: bytes = b"",
    exit_code: int | None = None,
    **fields: Any,
) -> None:
    """Enqueue `job_id` through the store and move it to `state` as a worker would.
    The job gets a queue of its own (unless `queue` is given) so that the claim takes
    exactly this job. A failed job waits an hour for its retry."""
    if max_retries is None:
        max_retries = 1 if state == "failed" else 0
    store = open_store(db)
    try:
        own_queue = queue or f"t-{job_id}"
        job = NewJob(id=job_id, command=command, queue=own_queue, max_retries=max_retries, **fields)
        store.enqueue_jobs([job], 3)
        if state == "pending":
            return
        if state == "cancelled":
            store.cancel_jobs([job_id])[job_id]
            return
        [claimed] = store.claim_jobs(TEST_WORKER, [own_queue], 1, 300)
        assert claimed.id == job_id, "another due job of that queue was claimed first"
        if state == "processing":
            return
        now = time.time()
        if state == "completed":
            code = 0 if exit_code is None else exit_code
            done = RunResult(code, None, stdout, stderr, now, now)
            assert store.complete_job(job_id, TEST_WORKER, claimed.last_attempt, done)
            return
        code = 1 if exit_code is None else exit_code
        failed = RunResult(code, f"exit code {code}", stdout, stderr, now, now)
        new_state = store.fail_job(
            as_claimed(store, job_id, TEST_WORKER, claimed.last_attempt), failed, 3600
        )
        assert new_state is not None, "fail_job was guarded out"
        assert new_state.value == state, f"job ended {new_state.value}, wanted {state}"
    finally:
        store.close()


@pytest.fixture
def twin(backend: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the test's backend, for the Click path's enqueues."""
    fresh_database, _ = BACKENDS[backend]
    (tmp_path / "twin").mkdir()
    with fresh_database(tmp_path / "twin") as url:
        open_store(url).close()
        yield url
