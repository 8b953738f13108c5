"""Many hosts on one PostgreSQL database or Redis server: real worker supervisors against a
real server, each test on both.

Each supervisor is a separate `queuectl worker start` process; QUEUECTL_HOSTNAME gives
each one a host name of its own, so one machine plays several hosts. Every test gets a
throw-away database (tests.pg_helpers) or key prefix (tests.redis_helpers), and every wait
is on a condition with a deadline.

What these tests prove:
- three supervisors share 1,000 jobs: each job completes with exactly one recorded
  success, all three hosts do work, a SIGKILLed supervisor's running jobs are recovered by
  the others once its lease expires, and `worker stop` stops the rest;
- the workers' server connections terminated mid-run (`pg_terminate_backend`, Redis's
  `CLIENT KILL`): every job still completes and the workers keep going;
- the server restarted mid-run (a server of the test's own, tests.own_postgres or
  tests.own_redis): the same.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from queuectl.errors import StoreError
from queuectl.models import Attempt, JobState, NewJob
from queuectl.store import Store, open_store
from tests.conftest import pg_helpers, redis_helpers
from tests.helpers import kill_matching, start_worker, stop, wait_for
from tests.own_postgres import OwnPostgres
from tests.own_redis import OwnRedis

pytestmark = [pytest.mark.slow]
SERVERS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]

LOST = "worker lost (lease expired)"
T = TypeVar("T")


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(params=SERVERS)
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database or Redis key prefix (these tests are for servers that
    many hosts share: no SQLite variant)."""
    if request.param == "redis":
        with redis_helpers().fresh_prefix() as url:
            yield url
        return
    with pg_helpers().fresh_database() as url:
        yield url


@pytest.fixture
def server_store(server_url: str) -> Iterator[Store]:
    opened = open_store(server_url)
    try:
        yield opened
    finally:
        opened.close()


class Hosts:
    """Worker supervisors started as separate processes, one per (pretend) host. Whatever
    is still running at the end is killed, and so are the jobs' processes (`marker`)."""

    def __init__(self, url: str, tmp_path: Path, marker: str) -> None:
        self.url = url
        self.tmp_path = tmp_path
        self.marker = marker
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, host: str, slots: int) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{host}.log"
        # PGAPPNAME names its server connections too, so a test can tell whose they are.
        env = {"QUEUECTL_HOSTNAME": host, "PGAPPNAME": host}
        proc = start_worker(self.url, log, "--count", str(slots), env=env)
        self.procs[host], self.logs[host] = proc, log
        return proc

    def log_text(self) -> str:
        """Every worker's log, for assertion messages."""
        parts = [f"--- {host} ---\n{log.read_text()}" for host, log in self.logs.items()]
        return "\n".join(parts)

    def wait(self, condition: Callable[[], T | None], what: str, timeout: float = 30) -> T:
        """wait_for, with the workers' logs in the failure message."""
        try:
            return wait_for(condition, timeout=timeout, what=what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.log_text()}") from None

    def cleanup(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        kill_matching(self.marker)


@pytest.fixture
def hosts(server_url: str, tmp_path: Path) -> Iterator[Hosts]:
    # A sleep length of its own (0.01xxxxx s) marks this test's job processes in /proc.
    started = Hosts(server_url, tmp_path, f"0.01{secrets.randbelow(10**5):05d}")
    try:
        yield started
    finally:
        started.cleanup()


# -- helpers --------------------------------------------------------------------------------


def cli(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`queuectl --db URL ARGS` as a user on this machine would run it (its own host name,
    not one of the workers' pretend ones)."""
    env = {k: v for k, v in os.environ.items() if k != "QUEUECTL_HOSTNAME"}
    command = [sys.executable, "-m", "queuectl", "--db", url, *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def enqueue_appenders(store: Store, prefix: str, count: int, out: Path, sleep: str) -> list[str]:
    """`count` jobs that append their id to `out` (O_APPEND: short lines never mix), then
    sleep a little so the run lasts a few seconds."""
    command = f'echo "$QUEUECTL_JOB_ID" >> {out}; sleep {sleep}'
    ids = [f"{prefix}{i}" for i in range(count)]
    store.enqueue_jobs([NewJob(id=job_id, command=command) for job_id in ids], 3)
    return ids


def completed(store: Store) -> int:
    return store.count_jobs().by_state[JobState.COMPLETED]


def at_least(store: Store, count: int) -> Callable[[], bool | None]:
    """True once `count` jobs have completed (None while the database is away)."""
    return tolerant(lambda: completed(store) >= count)


def tolerant(condition: Callable[[], T]) -> Callable[[], T | None]:
    """`condition`, reading None while the database is away (restarts, terminations)."""

    def check() -> T | None:
        try:
            return condition()
        except StoreError:
            return None

    return check


def registered(store: Store, hosts: Hosts) -> dict[str, str]:
    """host -> worker id, once every started supervisor has registered."""

    def ids() -> dict[str, str] | None:
        found = {w.host: w.id for w in store.list_workers()}
        return found if set(hosts.procs) <= set(found) else None

    found = hosts.wait(ids, what="every supervisor registered")
    assert found is not None
    return {host: found[host] for host in hosts.procs}


def wait_all_completed(store: Store, ids: list[str], hosts: Hosts, timeout: float) -> None:
    try:
        wait_for(
            tolerant(lambda: completed(store) == len(ids)),
            timeout=timeout,
            what=f"all {len(ids)} jobs completed",
        )
    except AssertionError as err:
        counts = tolerant(lambda: store.count_jobs().by_state)()
        raise AssertionError(f"{err}; jobs per state: {counts}\n{hosts.log_text()}") from None


def check_one_success_each(store: Store, ids: list[str], out: Path) -> dict[str, list[Attempt]]:
    """Every job completed with exactly one successful attempt recorded; every id ran
    (is in `out`), and only jobs that lost a worker ran more than once. Returns the
    attempts of every job."""
    attempts = {job_id: store.list_attempts(job_id) for job_id in ids}
    not_done = [j.id for j in store.list_jobs() if j.state is not JobState.COMPLETED]
    assert not not_done, f"{len(not_done)} job(s) did not complete: {not_done[:10]}"
    for job_id, tries in attempts.items():
        successes = [a for a in tries if a.exit_code == 0 and a.error is None]
        assert len(successes) == 1, f"{job_id}: {len(successes)} successes recorded: {tries}"
        assert tries[-1] == successes[0], f"{job_id}: the success is not the last attempt"
    runs = Counter(out.read_text().split())
    assert set(runs) == set(ids), f"ids missing from the output: {sorted(set(ids) - set(runs))}"
    twice = {job_id for job_id, n in runs.items() if n > 1}
    lost = {job_id for job_id, tries in attempts.items() if any(a.error == LOST for a in tries)}
    assert twice <= lost, f"ran more than once without losing a worker: {sorted(twice - lost)}"
    return attempts


def check_ran_once_each(store: Store, ids: list[str], out: Path, hosts: Hosts) -> None:
    """No worker died: every job completed, with one attempt, run once. Results held
    while the server was away are recorded once it is back (the lease outlived it)."""
    attempts = check_one_success_each(store, ids, out)
    several = {job_id: tries for job_id, tries in attempts.items() if len(tries) > 1}
    assert not several, f"jobs with more than one attempt: {several}\n{hosts.log_text()}"
    runs = Counter(out.read_text().split())
    assert set(runs.values()) == {1}, [job_id for job_id, n in runs.items() if n > 1]


# -- three hosts, one killed ----------------------------------------------------------------


def test_three_hosts_share_the_queue_and_recover_a_killed_one(
    server_store: Store, server_url: str, hosts: Hosts, tmp_path: Path
) -> None:
    store = server_store
    store.set_config("lease-seconds", "2")
    store.set_config("backoff-base", "1")
    out = tmp_path / "ran.txt"
    names = ["host-alpha", "host-bravo", "host-charlie"]
    for name in names:
        hosts.start(name, slots=4)
    worker_ids = registered(store, hosts)
    victim_host = names[1]
    victim, victim_id = hosts.procs[victim_host], worker_ids[victim_host]

    ids = enqueue_appenders(store, "mh-", 1000, out, hosts.marker)

    def victim_busy_mid_run() -> bool:
        if completed(store) < 200:
            return False
        running = store.list_jobs(state=JobState.PROCESSING)
        return any(j.worker_id == victim_id for j in running)

    hosts.wait(victim_busy_mid_run, timeout=60, what="mid-run, the victim running jobs")
    victim.kill()  # SIGKILL: no chance to record anything or release its jobs
    assert victim.wait(10) == -signal.SIGKILL
    # A dead worker changes nothing more: what it held at its death is still held.
    in_flight = {
        j.id for j in store.list_jobs(state=JobState.PROCESSING) if j.worker_id == victim_id
    }
    assert in_flight, "the victim held no job when it was killed"
    assert completed(store) < len(ids), "the run was over before the kill"

    wait_all_completed(store, ids, hosts, timeout=60)
    attempts = check_one_success_each(store, ids, out)

    # Work spread across all three hosts (the victim before its death).
    successes = Counter(
        a.worker_id for tries in attempts.values() for a in tries if a.exit_code == 0
    )
    per_host = {name: successes[worker_ids[name]] for name in names}
    assert set(successes) <= set(worker_ids.values()), successes
    assert all(n >= 10 for n in per_host.values()), f"work not spread: {per_host}"

    # The victim's running jobs: lost with its lease, then done by another host. No job
    # that it did not hold was declared lost.
    for job_id in in_flight:
        tries = attempts[job_id]
        lost = [i for i, a in enumerate(tries) if a.error == LOST]
        assert lost, f"{job_id}: no '{LOST}' attempt: {tries}"
        assert all(tries[i].worker_id == victim_id for i in lost), tries
        # Not before its lease ran out: a lease lasts at least lease-seconds from a claim.
        first_lost = tries[lost[0]]
        assert first_lost.finished_at is not None, tries
        assert first_lost.finished_at - first_lost.started_at >= 2 - 0.01, tries
        last = tries[-1]
        assert last.exit_code == 0 and lost[-1] < len(tries) - 1, tries
        assert last.worker_id != victim_id and last.worker_id in worker_ids.values(), tries
    lost_jobs = {
        job_id for job_id, tries in attempts.items() if any(a.error == LOST for a in tries)
    }
    assert lost_jobs == in_flight

    # `worker list` shows the two survivors, with their hosts; not the dead one.
    survivors = {name: hosts.procs[name] for name in names if name != victim_host}
    listed = cli(server_url, "worker", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {(r["host"], r["pid"]) for r in rows} == {(h, p.pid) for h, p in survivors.items()}
    assert {r["id"] for r in rows} == {worker_ids[h] for h in survivors}

    # `worker stop` (from "another host": the request goes through the database).
    stopped = cli(server_url, "worker", "stop", "--timeout", "30")
    assert stopped.returncode == 0, stopped.stderr + hosts.log_text()
    assert "stopped 2 worker(s)" in stopped.stdout, stopped.stdout
    for name, proc in survivors.items():
        assert proc.wait(30) == 0, f"{name} exited with {proc.returncode}\n{hosts.log_text()}"
    assert "stop requested through the database" in hosts.logs[names[0]].read_text()
    assert store.count_jobs().by_state[JobState.PROCESSING] == 0


# -- the server goes away -------------------------------------------------------------------


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    url = pg_helpers().postgres_admin_url()
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def _dbname(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def _redis_clients(url: str) -> list[tuple[str, str]]:
    """(id, host) of queuectl's connections to the Redis server of `url` (their names are
    queuectl:<host>:<pid>)."""
    import redis

    from queuectl.store.redis_client import split_url

    with redis.Redis.from_url(split_url(url)[0]) as client:
        found = client.client_list()
    return [
        (str(c["id"]), c["name"].split(":")[1])
        for c in found
        if c.get("name", "").startswith("queuectl:")
    ]


def backends(url: str) -> list[str]:
    """The application names of the connections to `url`'s database (a worker's: its host)."""
    if url.startswith("redis"):
        return [host for _, host in _redis_clients(url)]
    with _admin() as conn:
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (_dbname(url),),
        ).fetchall()
    return [str(name) for (name,) in rows]


def terminate_backends(url: str, hosts: Hosts) -> list[str]:
    """End every connection to `url`'s database (the workers', ours; on Redis, which other
    tests share, only the workers' hosts'); whose they were."""
    if url.startswith("redis"):
        import redis

        from queuectl.store.redis_client import split_url

        ended = [(i, host) for i, host in _redis_clients(url) if host in hosts.procs]
        with redis.Redis.from_url(split_url(url)[0]) as client:
            for client_id, _ in ended:
                client.client_kill_filter(_id=client_id)
        return [host for _, host in ended]
    with _admin() as conn:
        rows = conn.execute(
            "SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (_dbname(url),),
        ).fetchall()
    return [str(name) for name, ended in rows if ended]


def test_terminated_connections_every_job_still_completes(
    server_store: Store, server_url: str, hosts: Hosts, tmp_path: Path
) -> None:
    store = server_store
    # Longer than any outage here: no lease may expire, so no job may run twice.
    store.set_config("lease-seconds", "10")
    store.set_config("backoff-base", "1")
    out = tmp_path / "ran.txt"
    for name in ("host-one", "host-two"):
        hosts.start(name, slots=3)
    registered(store, hosts)
    ids = enqueue_appenders(store, "tb-", 300, out, hosts.marker)

    done_before = 0
    for round_number in range(1, 4):
        # Progress between terminations: the workers came back and ran more jobs.
        target = done_before + 30
        hosts.wait(
            at_least(store, target),
            what=f"{target} jobs completed before termination {round_number}",
        )
        # Every worker is connected again (its store connection at least) before each cut.
        hosts.wait(
            lambda: set(hosts.procs) <= set(backends(server_url)),
            what=f"every worker connected before termination {round_number}",
        )
        ended = terminate_backends(server_url, hosts)
        assert set(hosts.procs) <= set(ended), f"termination {round_number} ended {ended}"
        done_before = wait_for(tolerant(lambda: completed(store)), what="a count") or 0
    assert done_before < len(ids), "the run ended before the last termination"

    wait_all_completed(store, ids, hosts, timeout=60)
    for name, proc in hosts.procs.items():
        assert proc.poll() is None, f"{name} exited ({proc.returncode})\n{hosts.log_text()}"
    check_ran_once_each(store, ids, out, hosts)
    for name, proc in hosts.procs.items():
        assert stop(proc, timeout=30) == 0, f"{name}\n{hosts.log_text()}"


@pytest.fixture(params=SERVERS)
def own_server(request: pytest.FixtureRequest) -> Iterator[OwnPostgres | OwnRedis]:
    if request.param == "redis":
        from tests.own_redis import own_redis_server

        with own_redis_server() as redis_server:
            yield redis_server
        return
    from tests.own_postgres import own_postgres_server

    with own_postgres_server() as pg_server:
        yield pg_server


def test_server_restart_every_job_still_completes(
    own_server: OwnPostgres | OwnRedis, tmp_path: Path
) -> None:
    """On a server of this test's own (tests.own_postgres, tests.own_redis): restarting the
    shared one would break every other test running against it."""
    server = own_server
    store = open_store(server.url)
    hosts = Hosts(server.url, tmp_path, f"0.01{secrets.randbelow(10**5):05d}")
    try:
        # Longer than the restart takes: no lease may expire, so no job may run twice.
        store.set_config("lease-seconds", "10")
        store.set_config("backoff-base", "1")
        out = tmp_path / "ran.txt"
        for name in ("host-east", "host-west"):
            hosts.start(name, slots=3)
        registered(store, hosts)
        ids = enqueue_appenders(store, "rs-", 300, out, hosts.marker)
        hosts.wait(lambda: completed(store) >= 40, what="40 jobs completed before the restart")
        assert completed(store) < len(ids) - 100, "too few jobs left to run across the restart"
        booted = server.pid
        server.restart()
        assert server.pid != booted, "the server did not restart"
        wait_all_completed(store, ids, hosts, timeout=60)
        for name, proc in hosts.procs.items():
            assert proc.poll() is None, f"{name} exited ({proc.returncode})\n{hosts.log_text()}"
        check_ran_once_each(store, ids, out, hosts)
        for name, proc in hosts.procs.items():
            assert stop(proc, timeout=30) == 0, f"{name}\n{hosts.log_text()}"
    finally:
        hosts.cleanup()
        store.close()
