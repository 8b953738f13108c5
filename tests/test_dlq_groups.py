"""The DLQ grouped by failure fingerprint, on every backend: groups, the jobs of a group
a page at a time, and a group's retry and purge (all or nothing)."""

from __future__ import annotations

import pytest

from queuectl.errors import InvalidSpec, NotFound
from queuectl.models import JobQuery, RunResult
from queuectl.service import dlq_groups as groups_
from queuectl.store import Store
from tests.conftest import as_claimed, make_job

# id, exit code, the last line of stderr: a1-a3 fail alike though each names its own
# file, number and time; b1 prints another line; c1 the same line as a* but exits 3.
DEATHS = [
    ("a1", 2, b"loading\n2026-12-01T10:00:00Z open /data/run-17/in.csv: denied (uid 1001)\n"),
    ("b1", 2, b"disk full\n"),
    ("a2", 2, b"2026-12-02T11:30:05Z open /srv/x/in.csv: denied (uid 33)\n\n"),
    ("c1", 3, b"2026-12-02T11:30:05Z open /srv/x/in.csv: denied (uid 33)\n"),
    ("a3", 2, b"2026-12-03T01:02:03Z open /tmp/a/b/in.csv: denied (uid 0)\n"),
]


def kill_all(store: Store) -> None:
    store.enqueue_jobs([make_job(job_id, max_retries=0) for job_id, _, _ in DEATHS], 3)
    for job_id, code, stderr in DEATHS:
        (job,) = store.claim_jobs("w1", None, 1, 60.0)
        assert job.id == job_id
        result = RunResult(code, f"exit code {code}", stderr=stderr)
        store.fail_job(as_claimed(store, job_id, "w1", 1), result, 0.0)


def test_groups_by_kind_exit_code_and_normalised_last_stderr_line(store: Store) -> None:
    kill_all(store)
    found = groups_.dlq_groups(store)
    assert (found.dead, found.fingerprinted) == (5, 5)
    shown = [(g.kind, g.exit_code, g.line, g.count, g.newest_job_id) for g in found.groups]
    line = "<time> open <path>: denied (uid <n>)"
    assert shown == [
        ("exit", 2, line, 3, "a3"),
        ("exit", 3, line, 1, "c1"),
        ("exit", 2, "disk full", 1, "b1"),
    ]
    assert found.groups[0].error == "exit code 2"
    assert groups_.dlq_groups(store).groups[0].key == found.groups[0].key  # stable
    assert groups_.dlq_group_ids(store, found.groups[0].key) == ["a1", "a2", "a3"]
    with pytest.raises(NotFound):
        groups_.dlq_group_ids(store, "no-such-group")

    newest = groups_.dlq_groups(store, window=2)  # only the newest two are read
    assert (newest.dead, newest.fingerprinted) == (5, 2)
    assert sorted(g.newest_job_id for g in newest.groups) == ["a3", "c1"]


def test_the_jobs_of_a_group_a_page_at_a_time(store: Store) -> None:
    kill_all(store)
    key = groups_.dlq_groups(store).groups[0].key
    first = groups_.list_group(store, key, JobQuery(limit=2))
    assert [j.id for j in first.jobs] == ["a3", "a2"] and first.next_cursor
    rest = groups_.list_group(store, key, JobQuery(limit=2, cursor=first.next_cursor))
    assert [j.id for j in rest.jobs] == ["a1"] and rest.next_cursor is None
    oldest = groups_.list_group(store, key, JobQuery(states=("dead",), order="oldest"))
    assert [j.id for j in oldest.jobs] == ["a1", "a2", "a3"]
    assert groups_.list_group(store, "no-such-group", JobQuery()).jobs == []
    with pytest.raises(InvalidSpec, match="dead"):
        groups_.list_group(store, key, JobQuery(states=("pending",)))
    with pytest.raises(InvalidSpec, match="combined"):
        groups_.list_group(store, key, JobQuery(search="x"))


def test_a_group_is_retried_or_purged_whole(store: Store) -> None:
    kill_all(store)
    groups = groups_.dlq_groups(store).groups
    assert groups_.retry_group(store, groups[1].key) == ["c1"]
    assert store.get_job("c1").state.value == "pending"  # type: ignore[union-attr]
    assert groups_.purge_group(store, groups[0].key) == 3
    assert [j.id for j in store.query_jobs(JobQuery(states=("dead",)), None, None)] == ["b1"]
    with pytest.raises(NotFound):
        groups_.purge_group(store, groups[0].key)  # nothing left in it
