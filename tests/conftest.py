"""Fixtures shared by every test: a fresh store per test, on each backend.

`store_url` yields the URL of an empty database (SQLite: a file in tmp_path; PostgreSQL:
a throw-away database on the server that tests.pg_helpers finds). `store` opens it.
Tests that need several connections open more stores on `store_url` and close them.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from queuectl.models import Job, JobState, NewJob, WorkerRegistration
from queuectl.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent

# The commands the tests start run in their own process, as each test expects of them
# (timings, process trees, environments); tests/cli/test_forkserver.py turns the fork
# server on, in a directory of its own, and checks that it gives the same results.
os.environ["QUEUECTL_FORKSERVER"] = "0"
if str(ROOT) not in sys.path:  # `from tests.pg_helpers import ...` without an editable install
    sys.path.insert(0, str(ROOT))

# Missing while the PostgreSQL backend is being written: skip its tests, do not error.
_NOT_YET = {"tests.pg_helpers", "queuectl.store.postgres"}


def pg_helpers() -> ModuleType:
    """tests.pg_helpers once PostgreSQL is usable here; skips the test otherwise."""
    try:
        import queuectl.store.postgres  # noqa: F401
        from tests import pg_helpers as helpers
    except ModuleNotFoundError as err:
        driver_missing = err.name == "psycopg" and os.environ.get("CI") != "true"
        if err.name in _NOT_YET or driver_missing:
            pytest.skip(f"PostgreSQL backend not available: {err.name} is missing")
        raise
    helpers.require_postgres()
    return helpers


@contextmanager
def sqlite_database(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "q.db")


@contextmanager
def postgres_database(tmp_path: Path) -> Iterator[str]:
    with pg_helpers().fresh_database() as url:
        yield url


def redis_helpers() -> ModuleType:
    """tests.redis_helpers once the Redis driver is installed; skips the test otherwise
    (fails it under CI=true, where every backend must run)."""
    try:
        from tests import redis_helpers as helpers
    except ModuleNotFoundError as err:
        if err.name == "redis" and os.environ.get("CI") != "true":
            pytest.skip("Redis backend not available: the redis driver is missing")
        raise
    helpers.require_redis()
    return helpers


@contextmanager
def redis_database(tmp_path: Path) -> Iterator[str]:
    """A key prefix of its own on the test server (tests.redis_helpers)."""
    with redis_helpers().fresh_prefix() as url:
        yield url


@contextmanager
def memory_database(tmp_path: Path) -> Iterator[str]:
    """A memory database of its own, forgotten after the test."""
    from queuectl.store import memory_data

    name = f"test-{tmp_path.name}-{next(_memory_numbers)}"
    try:
        yield f"memory://{name}"
    finally:
        memory_data.forget(name)


_memory_numbers = itertools.count(1)


# Every backend the suites run on (the conformance suite in tests/store/, the worker and
# service tests): its name, how to make a fresh, empty database for one test (its URL),
# and the marks its tests carry. Adding a backend = its module in queuectl/store/, its
# scheme registered (pyproject.toml), and one entry here.
BACKENDS: dict[str, tuple[Callable[[Path], AbstractContextManager[str]], list[Any]]] = {
    "sqlite": (sqlite_database, []),
    "postgres": (postgres_database, [pytest.mark.postgres]),
    "redis": (redis_database, [pytest.mark.redis]),
    "memory": (memory_database, []),
}
# Backends whose data lives in one process's memory: the CLI tests (the command line
# refuses them) leave them out, and tests marked `shared_store` (they hand the URL to
# worker or server processes) are deselected on them.
IN_ONE_PROCESS = frozenset({"memory"})
# Backends that need no server: their tests may be in the fast tier (see is_fast).
FAST_BACKENDS = {"sqlite", "memory"}
# For tests that make the database refuse a value by its size (a trigger, a column's
# storage): Redis has no such limit to set per test. Use with
# @pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True).
SQL_BACKENDS = [
    pytest.param(name, id=name, marks=marks)
    for name, (_, marks) in BACKENDS.items()
    if name in ("sqlite", "postgres")
]


@pytest.fixture(
    params=[pytest.param(name, id=name, marks=marks) for name, (_, marks) in BACKENDS.items()]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on each backend."""
    fresh_database, _ = BACKENDS[request.param]
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def backend(request: pytest.FixtureRequest, store_url: str) -> str:
    """The backend (a BACKENDS name) that `store_url` and `store` belong to."""
    name: str = request.node.callspec.params["store_url"]
    return name


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store opened (and so migrated) on a fresh database; closed after the test."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-scale",
        type=float,
        default=1.0,
        help="multiply the sizes of the chaos tests (faults, jobs, examples); 1 = CI size",
    )


@pytest.fixture
def wake_pipe() -> Iterator[tuple[int, int]]:
    """(read, write) ends of a pipe, as a worker's wake-up pipe, closed afterwards."""
    read, write = os.pipe()
    yield read, write
    os.close(read)
    os.close(write)


@pytest.fixture
def chaos_scale(request: pytest.FixtureRequest) -> float:
    """How big the fault-injection tests run: 1 in CI, more by hand (`--chaos-scale 20`)."""
    scale: float = request.config.getoption("--chaos-scale")
    return scale


_job_numbers = itertools.count(1)


def make_job(id: str | None = None, command: str = "true", **fields: Any) -> NewJob:
    """A NewJob with a unique id unless one is given; `fields` are NewJob's other fields."""
    return NewJob(id=id or f"job-{next(_job_numbers)}", command=command, **fields)


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL server of this test's own (tests.own_postgres), for tests that
    restart, crash or freeze it: never the shared one."""
    from tests.own_postgres import own_postgres_server

    with own_postgres_server() as server:
        yield server


def as_claimed(store: Store, job_id: str, worker_id: str, attempt: int) -> Job:
    """The job as worker `worker_id` got it from the claim of attempt `attempt` (what
    fail_job and reap_job take): its current budget, processing, no cancel asked for."""
    job = store.get_job(job_id) or Job(
        id=job_id, command="true", queue="default", state=JobState.PROCESSING, priority=0,
        attempts=attempt, max_retries=3, timeout=None, run_at=0.0, created_at=0.0,
        updated_at=0.0,
    )  # fmt: skip
    return msgspec.structs.replace(
        job,
        state=JobState.PROCESSING,
        worker_id=worker_id,
        last_attempt=attempt,
        cancel_requested=False,
    )


def registration(
    worker_id: str,
    host: str = "host-1",
    pid: int = 1234,
    queues: tuple[str, ...] = (),
    slots: int = 2,
) -> WorkerRegistration:
    return WorkerRegistration(id=worker_id, host=host, pid=pid, queues=queues, slots=slots)


# -- the fast tier: `pytest -m fast`, run after every change -----------------------------
# No real worker process, no PostgreSQL or Redis, no browser; under a minute on 2 cores.
# A test is fast unless a rule below says otherwise; a test the rules cannot judge (one
# that starts a worker process itself, or takes seconds) says so with @pytest.mark.not_fast.

NOT_FAST_MARKS = {"postgres", "redis", "browser", "slow", "chaos", "not_fast", "shared_store"}
# Fixtures that start worker processes, servers of their own, or a browser.
NOT_FAST_FIXTURES = {"own_postgres", "own_redis", "own_server", "hosts", "worker", "workers"}
NOT_FAST_FIXTURES |= {"browser", "serve"}
# Fixtures parametrized over BACKENDS (the CLI tests' `db` too): fast on FAST_BACKENDS only.
ON_A_BACKEND = ("store_url", "db")


def is_fast(item: pytest.Item) -> bool:
    """Whether `item` belongs to the fast tier (the rules above)."""
    if any(item.get_closest_marker(name) for name in NOT_FAST_MARKS):
        return False
    if NOT_FAST_FIXTURES & set(getattr(item, "fixturenames", ())):
        return False
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec else {}
    return all(params.get(name, "sqlite") in FAST_BACKENDS for name in ON_A_BACKEND)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect `shared_store` tests on IN_ONE_PROCESS backends; mark the fast tier."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("store_url") if callspec else None
        shared = item.get_closest_marker("shared_store") is not None
        (dropped if shared and backend in IN_ONE_PROCESS else kept).append(item)
        if is_fast(item):
            item.add_marker(pytest.mark.fast)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


IN_MEMORY = "/dev/shm"


def pytest_configure(config: pytest.Config) -> None:
    """`pytest -m fast` keeps its tmp_path directories in memory (IN_MEMORY, where it is
    writable): no fast test is about what a disk does, and the disk's syncs (SQLite's
    commits) took a quarter of its time on the shared machine. pytest still keeps only
    the last few runs' directories there. --basetemp or PYTEST_DEBUG_TEMPROOT wins."""
    chosen = config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT")
    if config.option.markexpr.strip() == "fast" and not chosen and os.access(IN_MEMORY, os.W_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = IN_MEMORY


# .ci/run checks that this file exists after pytest: a test that ends the whole process
# (os._exit, say from a worker's stop watchdog run in-process) would otherwise look like
# a pass, with every test after it never run.
SESSION_FINISHED = ROOT / ".pytest-session-finished"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, not an xdist worker
        SESSION_FINISHED.unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not hasattr(session.config, "workerinput"):
        SESSION_FINISHED.write_text(f"{exitstatus}\n")
