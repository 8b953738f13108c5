"""The service layer on every backend: listing pages and cursors, requeue/delete through
the service, stop requests, config items, status per queue, the JSON shapes, and the
store pool a server uses."""

from __future__ import annotations

import threading
from collections.abc import Callable

import msgspec
import pytest

from queuectl import serialize, service
from queuectl.errors import (
    Conflict,
    InvalidSpec,
    NotFound,
    StoreError,
    StoreUnavailable,
    UnknownConfigKey,
    WorkerNotFound,
)
from queuectl.models import JobPage, JobQuery, JobState, RunResult, WorkerRegistration
from queuectl.store import Store, StorePool, open_store
from tests.conftest import make_job


def every_page(store: Store, query: JobQuery) -> list[list[str]]:
    pages = []
    while True:
        page = service.list_jobs(store, query)
        pages.append([job.id for job in page.jobs])
        if page.next_cursor is None:
            return pages
        query = msgspec.structs.replace(query, cursor=page.next_cursor)


# -- listing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_pages_cover_every_job_once_and_the_last_has_no_cursor(store: Store, order: str) -> None:
    service.enqueue(store, [make_job(f"p{n:02d}") for n in range(10)])
    pages = every_page(store, JobQuery(order=order, limit=4))
    assert [len(page) for page in pages] == [4, 4, 2]
    flat = [job_id for page in pages for job_id in page]
    expected = [f"p{n:02d}" for n in range(10)]
    assert flat == (expected if order == "oldest" else expected[::-1])
    exact = every_page(store, JobQuery(order=order, limit=5))
    assert [len(page) for page in exact] == [5, 5]  # a full last page ends without a cursor


def test_a_cursor_neither_skips_nor_repeats_when_jobs_arrive_between_pages(
    store: Store,
) -> None:
    service.enqueue(store, [make_job(f"c{n}") for n in range(6)])
    first = service.list_jobs(store, JobQuery(limit=3))
    service.enqueue(store, [make_job("arrived")])
    assert first.next_cursor is not None
    rest = service.list_jobs(store, JobQuery(limit=3, cursor=first.next_cursor))
    assert [job.id for job in rest.jobs] == ["c2", "c1", "c0"]
    oldest = service.list_jobs(store, JobQuery(order="oldest", limit=6))
    assert oldest.next_cursor is not None
    tail = service.list_jobs(store, JobQuery(order="oldest", cursor=oldest.next_cursor))
    assert [job.id for job in tail.jobs] == ["arrived"]  # the new job comes at the end


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (JobQuery(cursor="not-a-cursor"), "cursor"),
        (JobQuery(cursor=service.encode_cursor("oldest", 3)), "cursor"),  # other order
        (JobQuery(order="random"), "order"),
        (JobQuery(limit=0), "limit"),
        (JobQuery(limit=1001), "limit"),
        (JobQuery(states=("running",)), "state"),
        (JobQuery(id_prefix="x" * 201), "id_prefix"),
    ],
    ids=["garbage", "wrong-order", "order", "zero", "too-many", "state", "prefix"],
)
def test_bad_queries_name_their_field(store: Store, query: JobQuery, field: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        service.list_jobs(store, query)
    assert caught.value.field == field
    assert serialize.error_dict(caught.value)["field"] == field


def test_limit_zero_lists_everything_only_when_allowed(store: Store) -> None:
    service.enqueue(store, [make_job(f"z{n}") for n in range(3)])
    page = service.list_jobs(store, JobQuery(limit=0), max_limit=None)
    assert len(page.jobs) == 3 and page.next_cursor is None


def test_parse_list_states_reads_commas_repeats_and_scheduled() -> None:
    assert service.parse_list_states(["failed,dead", "DEAD", " scheduled "]) == (
        JobState.FAILED,
        JobState.DEAD,
        "scheduled",
    )
    assert service.parse_list_states(None) == ()
    with pytest.raises(InvalidSpec, match="valid: pending"):
        service.parse_list_states("failed,running")


def test_list_dead_pages_the_dlq(store: Store) -> None:
    service.enqueue(store, [make_job("alive")])
    assert service.list_dead(store) == JobPage(jobs=[], next_cursor=None)


# -- requeue, delete, cancel families ---------------------------------------------------------


def test_requeue_and_delete_errors_are_conflict_or_not_found(store: Store) -> None:
    service.enqueue(store, [make_job("waiting")])
    with pytest.raises(Conflict):
        service.requeue(store, ["waiting"])
    with pytest.raises(Conflict):
        service.delete(store, ["waiting"])
    with pytest.raises(NotFound):
        service.delete(store, ["ghost"])
    with pytest.raises(InvalidSpec):
        service.requeue(store, [])
    service.cancel(store, ["waiting"])
    assert service.requeue(store, ["waiting"]) == ["waiting"]
    assert service.get_job(store, "waiting").state is JobState.PENDING
    service.cancel(store, ["waiting"])
    assert service.delete(store, ["waiting"]) == 1
    with pytest.raises(NotFound):
        service.get_job(store, "waiting")


def test_the_configured_max_retries_reaches_new_requeued_and_retried_jobs(store: Store) -> None:
    """The store never reads config for a rule: the service hands it the default."""
    service.enqueue(store, [make_job("before"), make_job("own", max_retries=1)])
    assert service.get_job(store, "before").max_retries == 3  # the built-in default
    service.config_set(store, "max-retries", "0")
    service.enqueue(store, [make_job("after")])
    assert service.get_job(store, "after").max_retries == 0
    for job_id in ("before", "own"):
        service.cancel(store, [job_id])
    service.config_set(store, "max-retries", "5")
    service.requeue(store, ["before", "own"])
    got = {job_id: service.get_job(store, job_id).max_retries for job_id in ("before", "own")}
    assert got == {"before": 5, "own": 1}
    [claimed] = store.claim_jobs("w1", None, 1, 60)
    store.fail_job(msgspec.structs.replace(claimed, max_retries=0), RunResult(1, "no"), 0)
    service.config_set(store, "max-retries", "2")
    service.retry_dead(store, [claimed.id])
    assert service.get_job(store, claimed.id).max_retries == (2 if claimed.id == "before" else 1)


def test_cancel_of_several_jobs_is_all_or_none(store: Store) -> None:
    service.enqueue(store, [make_job("a"), make_job("b"), make_job("done")])
    service.cancel(store, ["done"])
    with pytest.raises(Conflict, match="done"):
        service.cancel(store, ["a", "done", "b"])
    with pytest.raises(NotFound, match="ghost"):
        service.cancel(store, ["a", "ghost"])
    assert {j.id: j.state for j in store.list_jobs()} == {
        "a": JobState.PENDING,
        "b": JobState.PENDING,
        "done": JobState.CANCELLED,
    }
    assert service.cancel(store, ["a", "b", "a"]) == {
        "a": JobState.CANCELLED,
        "b": JobState.CANCELLED,
    }


# -- workers ------------------------------------------------------------------------------------


def register(store: Store, worker_id: str) -> None:
    store.register_worker(WorkerRegistration(id=worker_id, host="h", pid=1, queues=(), slots=2))


def test_request_stop_only_records_the_request(store: Store) -> None:
    assert service.request_stop(store, None, now=False) == 0
    register(store, "w1")
    register(store, "w2")
    assert service.request_stop(store, ["w1"], now=False) == 1
    stops = {w.id: w.stop_requested for w in service.workers(store)}
    assert stops == {"w1": "graceful", "w2": None}
    assert service.request_stop(store, None, now=True) == 2
    assert {w.stop_requested for w in service.workers(store)} == {"now"}
    with pytest.raises(WorkerNotFound):
        service.request_stop(store, ["w9"], now=True)


def test_worker_stop_counts_a_worker_that_left_meanwhile_as_stopped(store: Store) -> None:
    """Two `worker stop --now` at once: the second may ask a worker the first already
    stopped (gone from the registry between its listing and its request)."""
    register(store, "w1")
    assert service.request_stop(store, ["w1", "w-gone"], now=True, gone_ok=True) == 1
    assert service.request_stop(store, ["w-gone"], now=True, gone_ok=True) == 0
    assert {w.id: w.stop_requested for w in service.workers(store)} == {"w1": "now"}


def test_workers_carry_heartbeat_age_and_alive(store: Store) -> None:
    register(store, "w1")
    (worker,) = service.workers(store)
    assert worker.alive is True
    assert worker.heartbeat_age is not None and 0 <= worker.heartbeat_age < 60
    shape = serialize.worker_dict(worker)
    assert shape["alive"] is True and shape["running"] == [] and shape["id"] == "w1"


# -- config and status --------------------------------------------------------------------------


def test_config_items_say_default_meaning_and_type(store: Store) -> None:
    service.config_set(store, "max_retries", "7")
    items = {item.key: item for item in service.config_items(store)}
    assert (items["max-retries"].value, items["max-retries"].default) == ("7", "3")
    assert items["max-retries"].is_default is False and items["max-retries"].type == "integer"
    assert items["backoff-base"].is_default is True and items["backoff-base"].type == "number"
    assert items["grace-period"].meaning
    assert serialize.config_item_dict(items["max-retries"])["is_default"] is False
    with pytest.raises(UnknownConfigKey) as caught:
        service.config_item(store, "retries")
    assert isinstance(caught.value, NotFound) and caught.value.field == "key"


def test_status_has_counts_per_queue_and_slots(store: Store) -> None:
    service.enqueue(store, [make_job("q1", queue="mail"), make_job("q2", queue="mail")])
    register(store, "w1")
    shape = serialize.status_dict(service.status(store))
    assert shape["jobs"]["pending"] == 2
    mail = shape["queues"]["mail"]
    assert mail["pending"] == 2 and mail["dead"] == 0
    assert mail["oldest_pending_age"] is not None and mail["oldest_pending_age"] >= 0
    assert (shape["slots"], shape["slots_busy"], len(shape["workers"])) == (2, 0, 1)


# -- store pool and the schema check ------------------------------------------------------------


@pytest.mark.shared_store
def test_reuse_check_checks_the_schema_once_per_url(store_url: str, store: Store) -> None:
    first = open_store(store_url, reuse_check=True)
    first.close()
    store.migrate()
    # A newer queuectl's migration: a plain open refuses it; a reused check does not look.
    if store_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_migrations (version) VALUES (999)")
    elif store_url.startswith("redis"):
        import redis

        from queuectl.store.redis_client import split_url

        address, prefix = split_url(store_url)
        with redis.Redis.from_url(address) as client:
            client.set(prefix + "schema", 999)
    else:
        import sqlite3

        sqlite_conn = sqlite3.connect(store_url)
        with sqlite_conn:
            sqlite_conn.execute("INSERT INTO schema_migrations VALUES (999, 0)")
        sqlite_conn.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(store_url)
    again = open_store(store_url, reuse_check=True)
    assert again.get_job("none") is None
    again.close()


def test_pool_lends_each_request_its_own_store(store_url: str) -> None:
    pool = StorePool(store_url, size=3, wait=0.2)
    try:
        with pool.store() as a, pool.store() as b, pool.store() as c:
            assert len({id(a), id(b), id(c)}) == 3
            service.enqueue(a, [make_job("from-a")])
            assert b.get_job("from-a") is not None
            with pytest.raises(StoreUnavailable, match="busy"), pool.store():
                pass
        with pool.store() as again:  # returned stores are reused, not reopened
            assert id(again) in {id(a), id(b), id(c)}
    finally:
        pool.close()
    with pytest.raises(StoreUnavailable), pool.store():
        pass


def test_pool_serves_concurrent_readers(store_url: str) -> None:
    pool = StorePool(store_url, size=4)
    with pool.store() as store:
        service.enqueue(store, [make_job(f"r{n}") for n in range(20)])
    errors: list[BaseException] = []
    inside = threading.Barrier(4, timeout=30)

    def read(_: int) -> None:
        try:
            with pool.store() as mine:
                inside.wait()  # all four hold a store at once
                assert len(service.list_jobs(mine, JobQuery(limit=100)).jobs) == 20
        except BaseException as err:
            errors.append(err)

    run_all(4, read)
    pool.close()
    assert errors == []


def run_all(count: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


# -- invalid specs name their field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"command": "x", "priority": "high"}', "priority"),
        ('{"command": "x", "colour": 1}', "colour"),
        ("{}", "command"),
        ('{"command": "  "}', "command"),
        ('{"command": "x", "id": "-bad"}', "id"),
        ('{"command": "x", "run_at": "soon"}', "run_at"),
        ('{"command": "x", "queue": "a b"}', "queue"),
        ('{"command": "x", "delay": 1, "run_at": "2030-01-01"}', "delay"),
        ('{"command": "x"}\n{"command": "y", "timeout": -1}', "timeout"),
    ],
    ids=["type", "unknown", "missing", "blank", "id", "run_at", "queue", "both", "line-2"],
)
def test_invalid_spec_names_the_field(text: str, field: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        service.parse_bulk(text)
    assert caught.value.field == field
    assert serialize.error_dict(caught.value) == {"error": str(caught.value), "field": field}
