"""Retention on every backend, driven by the store's clock: finished jobs past their
keep-* setting are pruned in batches, once per interval per database, dead jobs kept by
default, counters untouched, and the last prune on record."""

from __future__ import annotations

from queuectl.config import parse_value
from queuectl.models import JobState
from queuectl.service import retention
from queuectl.store import Store, open_store
from tests.conftest import make_job
from tests.helpers import all_at_once
from tests.store.test_conformance import DEFAULT_RETRIES, put_in_state


def finished(store: Store) -> dict[JobState, int]:
    counts = store.count_jobs().by_state
    return {s: counts[s] for s in (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)}


def test_finished_jobs_past_their_keep_are_pruned_dead_ones_kept(store: Store) -> None:
    for n in range(3):
        put_in_state(store, f"done-{n}", JobState.COMPLETED)
    put_in_state(store, "dead", JobState.DEAD)
    put_in_state(store, "gone", JobState.CANCELLED)
    store.enqueue_jobs([make_job("waiting")], DEFAULT_RETRIES)
    assert retention.prune_if_due(store) == 0  # nothing older than 7 days yet
    store.advance_clock(8 * 86_400)
    store.set_config(*parse_value("keep-cancelled", "forever"))
    assert retention.prune_if_due(store) == 3
    put_in_state(store, "done-late", JobState.COMPLETED)
    store.set_config(*parse_value("keep-completed", "1s"))
    store.advance_clock(10)  # past its keep, but the last prune started 10 s ago
    assert retention.prune_if_due(store) == 0
    store.advance_clock(retention.PRUNE_INTERVAL)
    samples = sorted(store.metric_samples(), key=lambda m: (m.kind, m.queue, m.outcome, m.le))
    assert retention.prune_if_due(store) == 1
    assert finished(store) == {JobState.COMPLETED: 0, JobState.DEAD: 1, JobState.CANCELLED: 1}
    assert store.get_job("waiting") is not None
    assert store.list_attempts("done-0") == []
    after = sorted(store.metric_samples(), key=lambda m: (m.kind, m.queue, m.outcome, m.le))
    assert after == samples  # counters never go back
    last = retention.last_prune(store)
    assert last is not None and (last.removed, last.total) == (1, 4)
    assert last.finished_at is not None


def test_a_prune_deletes_in_batches(store: Store) -> None:
    for n in range(7):
        put_in_state(store, f"c-{n}", JobState.COMPLETED)
    store.advance_clock(8 * 86_400)
    assert store.purge_jobs([JobState.COMPLETED], older_than=86_400, limit=3) == 3
    assert store.purge_jobs([JobState.COMPLETED], older_than=86_400, limit=3) == 3
    assert store.purge_jobs([JobState.COMPLETED], older_than=86_400, limit=3) == 1


def test_one_prune_at_a_time_however_many_hosts(store_url: str) -> None:
    hosts = [open_store(store_url) for _ in range(4)]
    try:
        for n in range(5):
            put_in_state(hosts[0], f"c-{n}", JobState.COMPLETED)
        for host in hosts:
            host.advance_clock(8 * 86_400)
        removed = all_at_once(hosts, retention.prune_if_due)
        assert sorted(removed) == [0, 0, 0, 5]
    finally:
        for host in hosts:
            host.close()
