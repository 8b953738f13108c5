"""What only the Redis backend has: key prefixes, the durability warning, outages of a
server of the test's own. Everything else it shares is in the conformance suite."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from queuectl.errors import StoreError, StoreUnavailable
from queuectl.models import JobState, RunResult
from queuectl.store import Store, open_store
from queuectl.store.redis_base import RedisBase
from queuectl.store.redis_durability import judge
from tests.conftest import make_job
from tests.own_postgres import free_port
from tests.own_redis import OwnRedis, own_redis_server
from tests.redis_helpers import fresh_prefix

pytestmark = pytest.mark.redis
OK = RunResult(exit_code=0, error=None, stdout=b"ok")


@pytest.fixture
def redis_url() -> Iterator[str]:
    with fresh_prefix() as url:
        yield url


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    with own_redis_server() as server:
        yield server


def test_two_prefixes_on_one_server_are_two_queues(redis_url: str) -> None:
    with fresh_prefix() as other_url:
        first, second = open_store(redis_url), open_store(other_url)
        try:
            first.enqueue_jobs([make_job("same-id")], 3)
            second.enqueue_jobs([make_job("same-id", command="echo other")], 3)
            first.set_config("max-retries", "9")
            assert second.get_config() == {}
            assert [j.command for j in second.list_jobs()] == ["echo other"]
            assert first.claim_jobs("w", None, 5, 30)[0].command == "true"
            assert second.count_jobs().by_state[JobState.PENDING] == 1
        finally:
            first.close()
            second.close()


def test_the_warning_names_what_a_crash_or_restart_would_lose() -> None:
    where = "127.0.0.1:6379/0"
    assert judge({"appendonly": "yes", "appendfsync": "always"}, where) is None
    off = judge({"appendonly": "no", "save": ""}, where)
    assert off is not None and "restart loses every job" in off
    snapshots = judge({"appendonly": "no", "save": "3600 1"}, where)
    assert snapshots is not None and "since the last one" in snapshots
    everysec = judge({"appendonly": "yes", "appendfsync": "everysec"}, where)
    assert everysec is not None and "last second" in everysec
    for warning in (off, snapshots, everysec):
        assert warning.startswith("warning: Redis at 127.0.0.1:6379/0 ")
        assert "\n" not in warning and "appendfsync always" in warning


@pytest.mark.parametrize("command", [["ping"], ["status"]])
def test_ping_and_status_warn_in_one_line_on_a_server_without_persistence(
    redis_url: str, command: list[str]
) -> None:
    store = open_store(redis_url)
    try:
        expected = store.durability_warning()
    finally:
        store.close()
    if expected is None:
        pytest.skip("the shared Redis server persists every write: nothing to warn of")
    done = subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", redis_url, *command],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr.splitlines() == [expected]
    assert expected not in done.stdout


def test_a_worker_logs_the_warning_once_when_it_starts(redis_url: str) -> None:
    store = open_store(redis_url)
    try:
        expected = store.durability_warning()
    finally:
        store.close()
    if expected is None:
        pytest.skip("the shared Redis server persists every write: nothing to warn of")
    done = subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", redis_url, "worker", "start", "--burst"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    logged = [line for line in done.stderr.splitlines() if "persistence off" in line]
    assert len(logged) == 1 and "WARNING" in logged[0], done.stderr
    assert logged[0].endswith(expected.removeprefix("warning: "))


def test_ping_on_a_durable_server_does_not_warn(own_redis: OwnRedis) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", own_redis.url, "ping"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("ok: Redis ")
    assert done.stderr == ""


def test_a_stopped_server_is_unavailable_and_the_store_works_again_after(
    own_redis: OwnRedis,
) -> None:
    store: Store = open_store(own_redis.url)
    try:
        store.enqueue_jobs([make_job("before")], 3)
        [job] = store.claim_jobs("w1", None, 1, 60)
        own_redis.crash()
        with pytest.raises(StoreUnavailable, match="Redis"):
            store.complete_job(job.id, "w1", job.last_attempt, OK)
        with pytest.raises(StoreUnavailable):
            store.get_job("before")
        own_redis.start()
        # The result kept by the worker is recorded when the server is back.
        assert store.complete_job(job.id, "w1", job.last_attempt, OK)
        assert store.get_job("before") is not None
        assert store.count_jobs().by_state[JobState.COMPLETED] == 1
    finally:
        store.close()


class ReplyDropper:
    """A TCP proxy in front of the Redis server that, when told, cuts the connection the
    moment the server's next reply arrives: the command was applied, its answer lost."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.drop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self.drop.is_set():
                    self.drop.clear()
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):  # shutdown: the FIN goes out even while the other
            with contextlib.suppress(OSError):  # pipe's thread still reads the socket
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def dropping_proxy(redis_url: str) -> Iterator[tuple[ReplyDropper, str]]:
    """A ReplyDropper in front of the test's Redis, and the test's URL through it."""
    parts = urlsplit(redis_url)
    proxy = ReplyDropper(parts.hostname or "127.0.0.1", parts.port or 6379)
    try:
        yield proxy, redis_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    finally:
        proxy.close()


def test_a_claim_whose_answer_was_lost_hands_its_jobs_back_on_the_next_claim(
    redis_url: str, dropping_proxy: tuple[ReplyDropper, str]
) -> None:
    proxy, proxied = dropping_proxy
    store, direct = open_store(proxied), open_store(redis_url)
    try:
        assert store.claim_jobs("w1", None, 1, 60) == []  # the script is loaded now
        direct.enqueue_jobs([make_job("answer-lost")], 3)
        proxy.drop.set()
        with pytest.raises(StoreUnavailable):
            store.claim_jobs("w1", None, 1, 60)
        taken = direct.get_job("answer-lost")
        assert taken is not None and (taken.state, taken.worker_id) == (JobState.PROCESSING, "w1")
        assert direct.claim_jobs("w2", None, 1, 60) == []  # nobody else gets it meanwhile
        [again] = store.claim_jobs("w1", None, 1, 60)
        assert (again.id, again.worker_id, again.last_attempt, again.attempts) == (
            "answer-lost",
            "w1",
            1,
            1,
        )
        assert store.claim_jobs("w1", None, 1, 60) == []  # handed back once
        assert store.complete_job("answer-lost", "w1", 1, OK)
    finally:
        store.close()
        direct.close()


def test_a_lost_claim_comes_back_on_the_workers_other_connection(
    redis_url: str, dropping_proxy: tuple[ReplyDropper, str]
) -> None:
    """A worker claims on two connections (its loop's and its claimer's): the claim after
    a lost answer may be made on the other one, and must still bring the jobs back."""
    proxy, proxied = dropping_proxy
    claimer, loop = open_store(proxied), open_store(redis_url)
    try:
        assert claimer.claim_jobs("w1", None, 1, 60) == []  # the script is loaded now
        loop.enqueue_jobs([make_job("lost-on-one"), make_job("next")], 3)
        proxy.drop.set()
        with pytest.raises(StoreUnavailable):
            claimer.claim_jobs("w1", None, 1, 60)
        taken = loop.claim_jobs("w1", None, 2, 60)
        assert [job.id for job in taken] == ["lost-on-one", "next"]
        assert claimer.claim_jobs("w1", None, 1, 60) == []  # handed back once
    finally:
        claimer.close()
        loop.close()


@pytest.mark.parametrize("junk", ["junk", "list"])
def test_a_schema_key_holding_junk_is_a_one_line_error_naming_the_key(
    redis_url: str, junk: str
) -> None:
    opened = open_store(redis_url)
    assert isinstance(opened, RedisBase)
    key = opened.prefix + "schema"
    client = opened._client
    client.delete(key)
    if junk == "list":
        client.rpush(key, "1")
    else:
        client.set(key, "not a number")
    opened.close()
    with pytest.raises(StoreError) as err:
        open_store(redis_url).close()
    assert "\n" not in str(err.value)
    assert key in str(err.value)


def test_layout_1_is_migrated_to_finished_jobs_by_age(redis_url: str) -> None:
    """Schema 1 kept no by-age index of finished jobs: opening such a prefix fills it in,
    so retention finds the old jobs without walking every finished one."""
    from tests.store.test_conformance import put_in_state

    opened = open_store(redis_url)
    assert isinstance(opened, RedisBase)
    for n in range(3):
        put_in_state(opened, f"done-{n}", JobState.COMPLETED)
    client, prefix = opened._client, opened.prefix
    client.delete(prefix + "ended:completed")  # as a schema-1 prefix holds them
    client.set(prefix + "schema", 1)
    opened.close()
    migrated = open_store(redis_url)
    try:
        assert migrated.schema_version() == 2
        assert client.zcard(prefix + "ended:completed") == 3
        migrated.advance_clock(3600)
        assert migrated.purge_jobs([JobState.COMPLETED], older_than=60, limit=2) == 2
        assert migrated.purge_jobs([JobState.COMPLETED], older_than=60, limit=2) == 1
    finally:
        migrated.close()
