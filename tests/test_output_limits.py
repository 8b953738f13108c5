"""Output the database cannot store must not wedge a worker.

`output-limit` is capped at what every backend stores comfortably; a result the database
refuses all the same is recorded degraded and the next job runs; a stop ends in bounded
time whatever the database does; `worker stop` returns once the worker is really gone;
worker memory stays bounded by the limit.

To make a database refuse a result for real at small sizes, the tests give it a real
limit: PostgreSQL's own "row is too big" (8 KB heap rows once the output columns may
not be moved out of line, `SET STORAGE PLAIN`); on SQLite, whose own limit is 1e9 bytes
per row, a trigger that refuses long output the way SQLITE_TOOBIG does.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.config import MAX_OUTPUT_LIMIT, Settings
from queuectl.models import JobState
from queuectl.runner import Limits, TailBuffer, run_command
from queuectl.store import Store, open_store
from tests.conftest import BACKENDS, SQL_BACKENDS
from tests.helpers import (
    enqueue,
    job,
    processes_matching,
    start_worker,
    state_of,
    stop,
    wait_for,
)

pytestmark = pytest.mark.shared_store  # workers or servers in other processes

REFUSED_OVER = 8000  # bytes of stdout or stderr the databases below refuse


def cli(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "queuectl", "--db", url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def refuse_long_output(store_url: str, backend: str) -> None:
    """Make the database refuse attempts whose stdout or stderr exceeds REFUSED_OVER."""
    if backend == "postgres":
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE attempts ALTER COLUMN stdout SET STORAGE PLAIN")
            conn.execute("ALTER TABLE attempts ALTER COLUMN stderr SET STORAGE PLAIN")
        return
    import sqlite3

    sqlite_conn = sqlite3.connect(store_url)
    with sqlite_conn:
        sqlite_conn.execute(
            "CREATE TRIGGER refuse_long_output BEFORE UPDATE ON attempts"
            f" WHEN length(NEW.stdout) > {REFUSED_OVER} OR length(NEW.stderr) > {REFUSED_OVER}"
            " BEGIN SELECT RAISE(ABORT, 'string or blob too big'); END"
        )
    sqlite_conn.close()


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@contextlib.contextmanager
def database_held(store_url: str, backend: str) -> Iterator[None]:
    """Hold the database so that the worker's calls fail or hang: SQLite's write lock
    (its writes give up after the busy timeout), an ACCESS EXCLUSIVE lock on jobs
    (every PostgreSQL statement of the worker waits for it, for good), or every command
    of the test's Redis user refused."""
    if backend == "redis":
        from tests.redis_helpers import refusing

        with refusing(store_url):
            yield
        return
    if backend == "postgres":
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")
        return
    import sqlite3

    sqlite_conn = sqlite3.connect(store_url, isolation_level=None)
    sqlite_conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        sqlite_conn.execute("ROLLBACK")
        sqlite_conn.close()


@contextlib.contextmanager
def database_refusing_writes(store_url: str, backend: str) -> Iterator[None]:
    """Make every write of the worker fail before it sends any data: SQLite's write lock
    held (BEGIN IMMEDIATE fails), or PostgreSQL refusing connections to the database
    (the worker's are cut, and it cannot open new ones)."""
    if backend in ("sqlite", "redis"):
        with database_held(store_url, backend):
            yield
        return
    import psycopg

    from tests.conftest import pg_helpers

    with psycopg.connect(store_url, autocommit=True) as conn:
        dbname = conn.info.dbname
    with psycopg.connect(pg_helpers().postgres_admin_url(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS false")
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )
            yield
        finally:
            admin.execute(f"ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS true")


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the config bound -------------------------------------------------------------------


def test_output_limit_past_the_maximum_is_refused(store: Store, store_url: str) -> None:
    assert cli(store_url, "config", "set", "output-limit", str(MAX_OUTPUT_LIMIT)).returncode == 0
    assert cli(store_url, "config", "set", "output-limit", "1024").returncode == 0
    for too_big in (str(MAX_OUTPUT_LIMIT + 1), str(600 << 20), str(1 << 30)):
        done = cli(store_url, "config", "set", "output-limit", too_big)
        assert done.returncode == 1, done
        assert done.stderr.startswith("error: output-limit must be between 0 and ")
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stdout == ""
    assert store.get_config()["output-limit"] == "1024"


def test_a_limit_stored_before_the_maximum_counts_as_the_maximum() -> None:
    """A database where an older queuectl stored output-limit 600 MB."""
    settings = Settings.from_stored({"output-limit": str(600 << 20)})
    assert settings.output_limit == MAX_OUTPUT_LIMIT


def test_tail_buffer_keeps_the_tail_in_at_most_limit_bytes() -> None:
    rng = random.Random(13)
    for limit in (1, 7, 64, 1000):
        tail, written = TailBuffer(limit), b""
        for _ in range(200):
            chunk = rng.randbytes(rng.choice((0, 1, 5, limit - 1, limit, limit + 3, 3 * limit)))
            tail.write(chunk)
            written += chunk
            # Never more than the limit held, whatever the chunks (a batch-trimming buffer
            # held up to twice the limit: 1.2 GB per stream at output-limit 600 MB).
            assert tail.held() <= limit
        assert tail.value() == written[-limit:]


def test_jobs_get_the_default_sigpipe() -> None:
    """Python ignores SIGPIPE; a job must not inherit that (`yes | head` would complain)."""
    result = run_command("yes | head -c 10 >/dev/null; echo done", {}, Limits())
    assert (result.stdout, result.stderr, result.exit_code) == (b"done\n", b"", 0)


# -- results at the limit, and results the database refuses ------------------------------

BIG_OUTPUTS = {
    # kind: a command printing {n} bytes on stdout and {n} on stderr
    "lines": "yes 0123456789abcdef | head -c {n}; yes fedcba9876543210 | head -c {n} >&2",
    "no-newlines": "head -c {n} /dev/zero | tr '\\0' a; head -c {n} /dev/zero | tr '\\0' b >&2",
    "binary": "head -c {n} /dev/urandom; head -c {n} /dev/urandom >&2",
}


# Every kind of output on SQLite (the worker's tail buffers are the same on any backend);
# on PostgreSQL and Redis the one that is hardest to store (bytes that are not text).
_AT_THE_MAXIMUM = [
    pytest.param(name, kind, id=f"{name}-{kind}", marks=BACKENDS[name][1])
    for name in ("sqlite", "postgres", "redis")
    for kind in sorted(BIG_OUTPUTS)
    if name == "sqlite" or kind == "binary"
]


@pytest.mark.slow
@pytest.mark.parametrize(("store_url", "kind"), _AT_THE_MAXIMUM, indirect=["store_url"])
def test_output_at_the_maximum_is_recorded_with_bounded_memory(
    store: Store,
    store_url: str,
    backend: str,
    tmp_path: Path,
    kind: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    limit = MAX_OUTPUT_LIMIT
    store.set_config("output-limit", str(limit))
    store.set_config("grace-period", "5")
    # While the test holds the database below, its writes give up after 1 s, not 10.
    env = {"QUEUECTL_SQLITE_BUSY_TIMEOUT": "1"}
    enqueue(store, '{"id":"warm-up","command":"echo warm"}')
    log = tmp_path / "w.log"
    worker = start_worker(store_url, log, env=env)
    workers.append(worker)
    wait_for(lambda: state_of(store, "warm-up") is JobState.COMPLETED, 60, "the warm-up job")
    base = peak_rss(worker.pid)

    # Just under twice the limit: what a tail buffer that trims in batches would hold.
    gate = tmp_path / "go"
    big = BIG_OUTPUTS[kind].format(n=2 * limit - (64 << 10))
    command = f"while [ ! -e {gate} ]; do sleep 0.02; done; {big}"
    enqueue(store, json.dumps({"id": "big", "command": command}))
    shell = wait_for(lambda: processes_matching(str(gate)), 60, "the job to start")[0]

    # First the result alone, built but not yet recorded (the database is held): both
    # tails and one copy of one of them at most.
    def outages() -> int:
        return log.read_text().count("database unavailable")

    with database_refusing_writes(store_url, backend):
        seen = outages()
        wait_for(lambda: outages() > seen, 60, "the worker to find the database gone")
        gate.touch()
        wait_for(lambda: not os.path.exists(f"/proc/{shell}"), 60, "the job to be reaped")
        seen = outages()
        wait_for(lambda: outages() >= seen + 3, 60, "the worker to try to record it")
        built = peak_rss(worker.pid) - base
    assert built < 4 * limit, f"worker peak RSS grew by {built >> 20} MiB before recording"

    store.ping()  # a read: reconnects this test's own connection, cut on PostgreSQL
    enqueue(store, '{"id":"next","command":"echo next"}')
    wait_for(lambda: state_of(store, "next") is JobState.COMPLETED, 120, "the next job")
    assert job(store, "big").state is JobState.COMPLETED, log.read_text()
    attempt = store.list_attempts("big")[-1]
    assert len(attempt.stdout) == limit and len(attempt.stderr) == limit
    if kind == "lines":
        assert set(attempt.stdout) == set(b"0123456789abcdef\n")
    elif kind == "no-newlines":
        assert attempt.stdout == b"a" * limit and attempt.stderr == b"b" * limit

    # Recording adds the driver's copy of the result and the row it builds: still a few
    # times the limit per stream, never the gigabytes a job printed.
    grown = peak_rss(worker.pid) - base
    assert grown < 8 * limit, f"worker peak RSS grew by {grown >> 20} MiB"
    assert stop(worker, 60) == 0, log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("store_url", SQL_BACKENDS, indirect=True)
@pytest.mark.parametrize("stream", ["stdout", "both"])
def test_a_refused_result_is_recorded_degraded_and_the_next_job_runs(
    store: Store,
    store_url: str,
    backend: str,
    tmp_path: Path,
    stream: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    refuse_long_output(store_url, backend)
    store.set_config("grace-period", "5")
    to_stderr = "; head -c 20000 /dev/urandom >&2" if stream == "both" else ""
    enqueue(
        store,
        f'{{"id":"big","command":"head -c 20000 /dev/urandom{to_stderr}; exit 3",'
        ' "max_retries":0}',
        '{"id":"small","command":"head -c 20000 /dev/urandom | tail -c 100"}',
        '{"id":"next","command":"echo next"}',
    )
    log = tmp_path / "w.log"
    worker = start_worker(store_url, log)
    workers.append(worker)
    wait_for(
        lambda: all(
            state_of(store, i) in (JobState.COMPLETED, JobState.DEAD)
            for i in ("big", "next", "small")
        ),
        60,
        "every job to be recorded",
    )
    big = job(store, "big")
    assert big.state is JobState.DEAD, log.read_text()
    attempt = store.list_attempts("big")[-1]
    assert attempt.exit_code == 3
    assert attempt.error is not None and attempt.error.startswith("exit code 3; ")
    # 4 KiB of both streams still makes too big a row for PostgreSQL: then none is kept.
    kept = 0 if (stream == "both" and backend == "postgres") else 4096
    if kept:
        assert f"output too large to store; kept the last {kept} bytes" in attempt.error
    else:
        assert "output too large to store; kept none" in attempt.error
    assert len(attempt.stdout) == kept
    assert job(store, "next").state is JobState.COMPLETED
    assert len(store.list_attempts("small")[-1].stdout) == 100

    stopped = cli(store_url, "worker", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped 1 worker(s)" in stopped.stdout
    assert worker.poll() == 0, "worker stop returned before the worker exited"


# -- stopping whatever the database does ------------------------------------------------


@pytest.mark.slow
def test_graceful_stop_ends_whatever_the_database_does(
    store: Store,
    store_url: str,
    backend: str,
    tmp_path: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    store.set_config("grace-period", "1")
    store.set_config("lease-seconds", "2")
    marker = f"{600 + os.getpid() % 300}.{int.from_bytes(os.urandom(2), 'big'):05d}"
    # Attempt 1 runs "forever"; the retry that the lease rules bring ends at once.
    command = f'[ \\"$QUEUECTL_ATTEMPT\\" -gt 1 ] || sleep {marker}'
    enqueue(store, f'{{"id":"long","command":"{command}"}}')
    log = tmp_path / "w.log"
    worker = start_worker(store_url, log)
    workers.append(worker)
    wait_for(lambda: processes_matching(f"sleep {marker}"), 60, "the job to start")
    with database_held(store_url, backend):
        worker.send_signal(signal.SIGTERM)
        # grace-period 1 s, then a short hand-back: nowhere near this bound, but without
        # a bound on the stop the worker waits for the database forever.
        wait_for(lambda: worker.poll() is not None, 60, "the worker to exit")
    assert worker.returncode == 0, log.read_text()
    assert not processes_matching(f"sleep {marker}"), "the job outlived its worker"

    # The job the worker could not record runs again, by the lease rules.
    second = start_worker(store_url, tmp_path / "w2.log")
    workers.append(second)
    wait_for(lambda: state_of(store, "long") is JobState.COMPLETED, 60, "the job's retry")
    assert stop(second) == 0


# -- worker stop ------------------------------------------------------------------------


def freeze_between_transactions(
    worker: subprocess.Popen[bytes], store_url: str, backend: str
) -> bool:
    """SIGSTOP the worker; True when it holds no transaction open (frozen inside one, it
    would block everyone's writes), else SIGCONT it and return False (to try again)."""
    worker.send_signal(signal.SIGSTOP)
    wait_for(lambda: "State:\tT" in Path(f"/proc/{worker.pid}/status").read_text())
    if backend == "postgres":
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            ).fetchone()
        free = row is not None and row[0] == 0
    elif backend == "redis":
        free = True  # a script runs whole on the server: no transaction is left open
    else:
        import sqlite3

        sqlite_conn = sqlite3.connect(store_url, timeout=0, isolation_level=None)
        try:
            sqlite_conn.execute("BEGIN IMMEDIATE")
            sqlite_conn.execute("ROLLBACK")
            free = True
        except sqlite3.OperationalError:
            free = False
        finally:
            sqlite_conn.close()
    if not free:
        worker.send_signal(signal.SIGCONT)
    return free


@pytest.mark.slow
def test_worker_stop_waits_for_the_worker_process_itself(
    store: Store,
    store_url: str,
    backend: str,
    tmp_path: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    store.set_config("lease-seconds", "2")
    log = tmp_path / "w.log"
    worker = start_worker(store_url, log)
    workers.append(worker)
    wait_for(lambda: store.list_workers(alive_within=2), 60, "the worker to register")
    # A worker that cannot act on the request (stopped here; it could as well be
    # busy retrying a result) lets its heartbeat go stale: that is not the same as gone.
    wait_for(lambda: freeze_between_transactions(worker, store_url, backend), 60, "a freeze")
    try:
        stopping = cli(store_url, "worker", "stop", "--timeout", "6")
        assert worker.poll() is None
        assert stopping.returncode == 1, stopping.stdout + stopping.stderr
        assert "still running after 6s" in stopping.stderr
    finally:
        worker.send_signal(signal.SIGCONT)
    wait_for(lambda: worker.poll() is not None, 60, "the worker to exit")
    assert worker.returncode == 0, log.read_text()


@pytest.mark.slow
def test_worker_stop_reports_a_killed_worker_dead_at_once(
    store: Store, store_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "w.log"
    worker = start_worker(store_url, log)
    workers.append(worker)
    wait_for(lambda: store.list_workers(alive_within=30), 60, "the worker to register")
    worker.kill()
    worker.wait()
    # Its heartbeat is still fresh (lease-seconds 30): only its pid tells it is gone.
    stopping = cli(store_url, "worker", "stop", "--timeout", "20")
    assert stopping.returncode == 0, stopping.stderr
    assert "already dead (process gone)" in stopping.stderr
    assert "stopped 0 worker(s)" in stopping.stdout
    assert store.list_workers() == []


@pytest.mark.slow
@pytest.mark.postgres
def test_a_result_that_drops_the_connection_is_recorded_degraded(
    tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    """PostgreSQL may drop the connection on every try of a result too large for it, and a
    worker must not retry it forever. Here the server drops it (the backend ends itself)
    whenever an attempt's stdout exceeds REFUSED_OVER: the worker sees the store take
    other writes, gives the result a few tries, then records it degraded."""
    import psycopg

    from tests.conftest import pg_helpers

    with pg_helpers().fresh_database() as url:
        store = open_store(url)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "CREATE FUNCTION drop_on_long_output() RETURNS trigger LANGUAGE plpgsql"
                    f" AS $$ BEGIN IF length(NEW.stdout) > {REFUSED_OVER} THEN"
                    " PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5);"
                    " END IF; RETURN NEW; END $$"
                )
                conn.execute(
                    "CREATE TRIGGER drop_on_long_output BEFORE UPDATE ON attempts"
                    " FOR EACH ROW EXECUTE FUNCTION drop_on_long_output()"
                )
            enqueue(
                store,
                '{"id":"big","command":"head -c 20000 /dev/urandom"}',
                '{"id":"next","command":"echo next"}',
            )
            log = tmp_path / "w.log"
            worker = start_worker(url, log)
            workers.append(worker)
            wait_for(
                lambda: all(state_of(store, i) is JobState.COMPLETED for i in ("big", "next")),
                60,
                "both jobs to be recorded",
            )
            attempt = store.list_attempts("big")[-1]
            assert attempt.error is not None
            assert "output too large to store; kept the last 4096 bytes" in attempt.error
            assert len(attempt.stdout) == 4096
            assert len(store.list_attempts("big")) == 1  # recorded by its first run
            assert stop(worker) == 0, log.read_text()
        finally:
            store.close()
