"""Unique jobs on every backend: at most one job with a key waits or runs.

The store guards the key (SQL: a partial unique index; Redis: a key hash kept by the
index upkeep; memory: the rule in Python); queuectl.service.unique decides what a
duplicate gets. Each test goes through the Store interface or the service only, so the
four backends answer alike.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from queuectl import service
from queuectl.errors import UniqueKeyTaken
from queuectl.models import JobChanges, JobState, NewJob, OnDuplicate
from queuectl.service.enqueue import enqueue_answers, enqueue_bulk_answers
from queuectl.store import Store
from tests.conftest import as_claimed, make_job
from tests.store.test_conformance import BOOM, KILLED, OK, TOL, enqueue, get

PENDING, PROCESSING, FAILED = JobState.PENDING, JobState.PROCESSING, JobState.FAILED
COMPLETED, DEAD, CANCELLED = JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED
KEY = "sync-user-42"


def keyed(job_id: str, command: str = "true", **fields: object) -> NewJob:
    return make_job(job_id, command, unique_key=KEY, **fields)


def claim(store: Store, job_id: str) -> int:
    """Claim the (only due) job `job_id`; its attempt number."""
    claimed = store.claim_jobs("w1", None, 1, 60.0)
    assert [job.id for job in claimed] == [job_id]
    return claimed[0].last_attempt


def holder(store: Store) -> str | None:
    return store.unique_holders([KEY]).get(KEY)


def total(store: Store) -> int:
    return sum(store.count_jobs().by_state.values())


def test_the_store_refuses_a_second_holder_and_adds_nothing(store: Store) -> None:
    enqueue(store, keyed("first"))
    with pytest.raises(UniqueKeyTaken) as refused:
        enqueue(store, make_job("other"), keyed("second"))
    assert (refused.value.job_id, refused.value.key, refused.value.holder) == (
        "second",
        KEY,
        "first",
    )
    assert store.get_job("other") is None and store.get_job("second") is None
    with pytest.raises(UniqueKeyTaken) as twice:
        # the earlier job of a batch holds it too
        enqueue(store, make_job("a", unique_key="k2"), make_job("b", unique_key="k2"))
    assert twice.value.holder == "a" and store.get_job("a") is None
    assert get(store, "first").unique_key == KEY
    assert holder(store) == "first"


def test_a_duplicate_is_answered_with_the_waiting_job_by_default(store: Store) -> None:
    [added] = enqueue_answers(store, [keyed("first")])
    assert (added.id, added.duplicate) == ("first", False)
    [dup] = enqueue_answers(store, [keyed("second", "echo other")])
    assert (dup.id, dup.duplicate, dup.replaced) == ("first", True, False)
    assert dup.note is not None and "first" in dup.note and KEY in dup.note
    assert store.get_job("second") is None
    assert get(store, "first").command == "true"
    assert total(store) == 1


def test_on_duplicate_error_refuses_naming_the_holder(store: Store) -> None:
    enqueue(store, keyed("first"))
    with pytest.raises(UniqueKeyTaken, match="held by waiting job 'first'"):
        enqueue_answers(store, [keyed("second", on_duplicate=OnDuplicate.ERROR)])
    assert total(store) == 1


def test_replace_puts_the_new_spec_and_time_in_place_of_the_waiting_job(store: Store) -> None:
    enqueue(store, keyed("first", "echo old", queue="q1", priority=1))
    new = keyed(
        "second",
        "echo new",
        queue="q2",
        priority=7,
        max_retries=9,
        timeout=5.0,
        delay=30.0,
        cwd="/tmp",
        env={"A": "b"},
        keep_daemons=True,
        on_duplicate=OnDuplicate.REPLACE,
    )
    [answer] = enqueue_answers(store, [new])
    assert (answer.id, answer.duplicate, answer.replaced) == ("first", True, True)
    job = get(store, "first")
    assert (job.command, job.queue, job.priority, job.max_retries, job.timeout) == (
        "echo new",
        "q2",
        7,
        9,
        5.0,
    )
    assert (job.cwd, job.env, job.keep_daemons, job.state) == ("/tmp", {"A": "b"}, True, PENDING)
    assert job.run_at == pytest.approx(store.now() + 30.0, abs=1.0)
    assert store.get_job("second") is None
    assert store.count_jobs("q2").by_state[PENDING] == 1
    assert store.count_jobs("q1").by_state[PENDING] == 0
    assert claim_none_due(store)


def claim_none_due(store: Store) -> bool:
    return store.claim_jobs("w1", None, 5, 60.0) == []


def test_replace_of_a_failed_job_awaiting_its_retry_starts_it_afresh(store: Store) -> None:
    enqueue(store, keyed("first", "false", max_retries=3))
    attempt = claim(store, "first")
    assert store.fail_job(as_claimed(store, "first", "w1", attempt), BOOM, 600.0) is FAILED
    [answer] = enqueue_answers(store, [keyed("x", "echo fixed", on_duplicate=OnDuplicate.REPLACE)])
    assert answer.replaced
    job = get(store, "first")
    assert (job.state, job.command, job.attempts) == (PENDING, "echo fixed", 0)
    assert job.last_error is None
    assert job.run_at <= store.now() + TOL
    assert claim(store, "first") == attempt + 1


def test_replace_leaves_a_running_job_and_answers_with_it(store: Store) -> None:
    enqueue(store, keyed("first"))
    claim(store, "first")
    [answer] = enqueue_answers(store, [keyed("x", "echo new", on_duplicate=OnDuplicate.REPLACE)])
    assert (answer.id, answer.duplicate, answer.replaced) == ("first", True, False)
    assert answer.note is not None and "running" in answer.note
    assert get(store, "first").command == "true"
    assert total(store) == 1


def test_a_burst_of_delayed_replaces_keeps_only_the_last(store: Store) -> None:
    for n in range(5):
        spec = keyed(f"burst-{n}", f"echo {n}", delay=30.0, on_duplicate=OnDuplicate.REPLACE)
        assert enqueue_answers(store, [spec])[0].id == "burst-0"
    job = get(store, "burst-0")
    assert (job.command, total(store)) == ("echo 4", 1)
    assert job.run_at == pytest.approx(store.now() + 30.0, abs=1.0)


def test_the_key_stays_held_while_processing_and_after_a_failed_attempt(store: Store) -> None:
    enqueue(store, keyed("first", "false", max_retries=1))
    attempt = claim(store, "first")
    assert holder(store) == "first"
    store.advance_clock(120)  # its lease expires: reaped back to waiting, key kept
    [expired] = store.expired_jobs()
    assert store.reap_job(expired, BOOM, 0.0) is FAILED
    assert holder(store) == "first"
    assert enqueue_answers(store, [keyed("again")])[0].id == "first"
    assert claim(store, "first") == attempt + 1
    assert store.release_job("first", "w1", attempt + 1)  # cold shutdown: pending again
    assert holder(store) == "first"


def finish(store: Store, how: str) -> None:
    """End job "first" (holding KEY) the way `how` names."""
    if how == "cancelled waiting":
        store.cancel_jobs(["first"])
        return
    attempt = claim(store, "first")
    if how == "completed":
        assert store.complete_job("first", "w1", attempt, OK)
    elif how == "dead":
        assert store.fail_job(as_claimed(store, "first", "w1", attempt), BOOM, 0.0) is DEAD
    else:  # cancelled while running
        store.cancel_jobs(["first"])
        assert store.cancel_running_job("first", "w1", attempt, KILLED)


@pytest.mark.parametrize("how", ["completed", "dead", "cancelled waiting", "cancelled running"])
def test_the_key_is_free_once_its_job_ended(store: Store, how: str) -> None:
    enqueue(store, keyed("first", max_retries=0))
    finish(store, how)
    assert holder(store) is None
    [answer] = enqueue_answers(store, [keyed("second")])
    assert (answer.id, answer.duplicate) == ("second", False)
    assert holder(store) == "second"


def test_the_key_is_free_when_a_job_it_runs_after_ends_badly(store: Store) -> None:
    enqueue(store, make_job("parent", max_retries=0), keyed("child", after=("parent",)))
    assert holder(store) == "child"  # blocked is waiting: it holds the key
    attempt = claim(store, "parent")
    assert store.fail_job(as_claimed(store, "parent", "w1", attempt), BOOM, 0.0) is DEAD
    assert get(store, "child").state is CANCELLED
    assert holder(store) is None
    enqueue(store, keyed("second"))
    # the parent's requeue brings back the jobs it cancelled, unless their key was taken
    assert store.requeue_jobs(["parent"], 3).brought_back == []
    assert get(store, "child").state is CANCELLED
    assert holder(store) == "second"


@pytest.mark.parametrize("removal", ["delete", "purge"])
def test_the_key_of_a_deleted_job_stays_free(store: Store, removal: str) -> None:
    enqueue(store, keyed("first"))
    store.cancel_jobs(["first"])
    if removal == "delete":
        assert store.delete_jobs(["first"]) == 1
    else:
        assert store.purge_jobs([CANCELLED]) == 1
    enqueue(store, keyed("second"))
    assert holder(store) == "second"


def test_a_requeue_of_a_finished_job_whose_key_is_held_is_refused(store: Store) -> None:
    enqueue(store, keyed("old", max_retries=0), make_job("plain", max_retries=0))
    attempt = claim(store, "old")
    assert store.fail_job(as_claimed(store, "old", "w1", attempt), BOOM, 0.0) is DEAD
    store.cancel_jobs(["plain"])
    enqueue(store, keyed("new"))
    before = get(store, "old")
    refusals: list[Callable[[], object]] = [
        lambda: store.requeue_jobs(["old"], 3),
        lambda: store.requeue_jobs(["plain", "old"], 3),  # all or nothing
        lambda: store.retry_dead_jobs(["old"], 3),
        lambda: store.update_job("old", JobChanges(requeue=True)),
    ]
    for refuse in refusals:
        with pytest.raises(UniqueKeyTaken, match="held by job 'new'") as refused:
            refuse()
        assert refused.value.holder == "new"
    assert get(store, "old") == before
    assert get(store, "plain").state is CANCELLED
    assert holder(store) == "new"
    store.cancel_jobs(["new"])  # once the key is free, the requeue goes through
    assert store.requeue_jobs(["old"], 3) == ["old"]
    assert holder(store) == "old"


def test_two_finished_jobs_of_one_key_are_not_requeued_together(store: Store) -> None:
    enqueue(store, keyed("a"))
    store.cancel_jobs(["a"])
    enqueue(store, keyed("b"))
    store.cancel_jobs(["b"])
    with pytest.raises(UniqueKeyTaken):
        store.requeue_jobs(["a", "b"], 3)
    assert [get(store, i).state for i in ("a", "b")] == [CANCELLED, CANCELLED]


def spec_line(**fields: str) -> str:
    return msgspec.json.encode(fields).decode()


def test_bulk_a_later_line_is_the_duplicate_of_an_earlier_one(store: Store) -> None:
    text = "\n".join(
        msgspec.json.encode(spec).decode()
        for spec in [
            {"id": "one", "command": "echo 1", "unique_key": KEY},
            {"id": "plain", "command": "true"},
            {"id": "two", "command": "echo 2", "unique_key": KEY},
            {"id": "three", "command": "echo 3", "unique_key": KEY, "on_duplicate": "replace"},
        ]
    )
    answers = enqueue_bulk_answers(store, text)
    assert [(a.id, a.duplicate, a.replaced) for a in answers] == [
        ("one", False, False),
        ("plain", False, False),
        ("one", True, False),
        ("one", True, True),
    ]
    assert get(store, "one").command == "echo 3"
    assert store.get_job("two") is None and store.get_job("three") is None
    again = enqueue_bulk_answers(store, spec_line(id="four", command="x", unique_key=KEY))
    assert [(a.id, a.duplicate) for a in again] == [("one", True)]


def test_bulk_an_error_line_refuses_the_whole_batch(store: Store) -> None:
    enqueue(store, keyed("held"))
    lines = [
        spec_line(id="fresh", command="true", unique_key="other"),
        spec_line(id="dup", command="true", unique_key=KEY, on_duplicate="error"),
    ]
    with pytest.raises(UniqueKeyTaken, match=r"^line 2: unique key .* job 'held'"):
        enqueue_bulk_answers(store, "\n".join(lines))
    inside = [spec_line(id="p", command="true", unique_key="k"), lines[1].replace(KEY, "k")]
    with pytest.raises(UniqueKeyTaken, match=r"^line 2: .*'p' \(line 1 of this batch\)"):
        enqueue_bulk_answers(store, "\n".join(inside))
    assert store.get_job("fresh") is None and store.get_job("p") is None
    assert total(store) == 1


def test_the_enqueue_option_applies_to_every_line(store: Store) -> None:
    enqueue(store, keyed("held"))
    text = spec_line(command="true", unique_key=KEY, on_duplicate="existing")
    with pytest.raises(UniqueKeyTaken):
        service.enqueue_bulk(store, text, {"on_duplicate": "error"})
    assert service.enqueue_bulk(store, text) == ["held"]


def test_a_schedule_with_a_unique_key_skips_a_run_while_one_waits(store: Store) -> None:
    from queuectl.service import schedules

    schedules.add(store, "sync", {"command": "true", "unique_key": KEY}, every=10.0)
    store.advance_clock(10.5)
    [first] = schedules.run_due(store)
    store.advance_clock(10.0)
    assert schedules.run_due(store) == []  # the first run still holds the key
    shown = schedules.get(store, "sync")
    assert (shown.skipped, shown.last_job) == (1, first)
    store.cancel_jobs([first])
    store.advance_clock(10.0)
    assert len(schedules.run_due(store)) == 1
