"""The rulebook's decisions, as pure functions: no store, no clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from queuectl import rules
from queuectl.errors import InvalidStateChange
from queuectl.models import Job, JobChanges, JobState, StopMode

F = rules.Field

PENDING, PROCESSING, COMPLETED = JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED
FAILED, DEAD, CANCELLED = JobState.FAILED, JobState.DEAD, JobState.CANCELLED


def job(state: JobState = PROCESSING, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "id": "j",
        "command": "true",
        "queue": "default",
        "state": state,
        "priority": 0,
        "attempts": 1,
        "max_retries": 3,
        "timeout": None,
        "run_at": 100.0,
        "created_at": 0.0,
        "updated_at": 0.0,
        "worker_id": "w1" if state is PROCESSING else None,
        "last_attempt": 1,
        **fields,
    }
    return Job(**values)


# -- a failed attempt ----------------------------------------------------------------------


def test_a_failure_with_retries_left_is_retried_after_the_delay() -> None:
    assert rules.failed(job(attempts=1, max_retries=3), 8.0) == rules.Finish(FAILED, run_after=8.0)
    assert rules.failed(job(attempts=3, max_retries=3), 8.0).state is FAILED  # the 3rd retry next
    assert rules.failed(job(attempts=4, max_retries=3), 8.0).state is DEAD


def test_a_failure_past_max_retries_is_dead_and_keeps_its_run_at() -> None:
    assert rules.failed(job(attempts=5, max_retries=3), 8.0) == rules.Finish(DEAD)
    assert rules.failed(job(attempts=1, max_retries=0), 8.0) == rules.Finish(DEAD)


def test_a_cancel_requested_while_running_beats_retry_and_dead() -> None:
    for attempts in (1, 9):
        decided = rules.failed(job(attempts=attempts, cancel_requested=True), 8.0)
        assert decided == rules.Finish(CANCELLED)


def test_backoff_grows_exponentially_up_to_the_cap_plus_jitter() -> None:
    assert [rules.backoff_delay(n, 2, 20) for n in range(1, 6)] == [2, 4, 8, 16, 20]
    assert rules.backoff_delay(10**6, 2, 3600) == 3600  # no overflow
    assert rules.backoff_delay(2, 3, 3600, jitter_share=0.5, jitter=0.5) == 9 * 1.25


# -- the other ends of an attempt ------------------------------------------------------------


def test_release_does_not_count_the_attempt_unless_a_cancel_came() -> None:
    back = rules.released(False)
    assert (back.state, back.run_after, back.counted, back.records_result) == (
        PENDING,
        0.0,
        False,
        False,
    )
    assert rules.released(True).state is CANCELLED
    assert rules.completed() == rules.Finish(COMPLETED)
    assert rules.cancelled_while_running() == rules.Finish(CANCELLED)


def test_the_guard_is_the_job_as_its_worker_holds_it() -> None:
    held = rules.held(job(last_attempt=4, worker_id="w7"), reads_cancel=True)
    assert held == rules.Held("j", "w7", 4, cancel_requested=False)
    assert rules.held(job(), reads_cancel=False).cancel_requested is None
    with pytest.raises(ValueError):
        rules.held(job(PENDING))


def test_redeciding_only_when_the_attempt_is_still_held_and_a_cancel_came() -> None:
    guard = rules.Held("j", "w1", 1, cancel_requested=False)
    asked = job(cancel_requested=True)
    assert rules.worth_redeciding(guard, asked)
    assert not rules.worth_redeciding(guard, job())  # nothing it read changed
    assert not rules.worth_redeciding(guard, None)
    assert not rules.worth_redeciding(guard, msgspec.structs.replace(asked, last_attempt=2))
    assert not rules.worth_redeciding(guard, msgspec.structs.replace(asked, worker_id="w2"))
    assert not rules.worth_redeciding(guard, job(FAILED, cancel_requested=True))
    assert not rules.worth_redeciding(rules.Held("j", "w1", 1), asked)  # read no cancel


# -- claims, leases, heartbeats ----------------------------------------------------------------


def test_claimable_jobs_are_due_pending_or_failed_in_priority_then_age_order() -> None:
    assert rules.claimable(job(PENDING, run_at=10), now=10)
    assert rules.claimable(job(FAILED, run_at=5), now=10)
    assert not rules.claimable(job(PENDING, run_at=11), now=10)
    assert not any(rules.claimable(job(s, run_at=0), now=10) for s in (PROCESSING, DEAD))
    jobs = [job(PENDING, id="old", seq=1), job(PENDING, id="urgent", priority=5, seq=3)]
    jobs.append(job(PENDING, id="new", seq=2))
    assert [j.id for j in sorted(jobs, key=rules.claim_order)] == ["urgent", "old", "new"]


def test_leases_expire_and_heartbeats_renew_only_held_jobs() -> None:
    assert rules.lease_expired(job(lease_expires_at=9.0), now=10)
    assert not rules.lease_expired(job(lease_expires_at=11.0), now=10)
    assert not rules.lease_expired(job(COMPLETED, lease_expires_at=9.0), now=10)
    assert rules.renews(job(), "w1", {"j"})
    assert not rules.renews(job(), "w1", set())  # lost track of it: let it expire
    assert not rules.renews(job(), "w2", {"j"})
    assert not rules.renews(job(COMPLETED), "w1", {"j"})


# -- operators ----------------------------------------------------------------------------------


def test_cancel_ends_waiting_jobs_asks_running_ones_and_refuses_ended_ones() -> None:
    for state in (PENDING, FAILED):
        change = rules.cancel(job(state))
        assert change.sets == {F.STATE: CANCELLED, F.CANCEL_REQUESTED: False}
        assert change.state is CANCELLED and not change.wakes_workers
    asked = rules.cancel(job(PROCESSING))
    assert asked.sets == {F.CANCEL_REQUESTED: True}
    assert asked.state is PROCESSING and asked.wakes_workers  # its worker must hear of it
    for state in (COMPLETED, DEAD, CANCELLED):
        with pytest.raises(InvalidStateChange, match="already"):
            rules.cancel(job(state))


def test_update_refuses_a_running_job_and_requeues_ended_ones_from_scratch() -> None:
    with pytest.raises(InvalidStateChange, match="running"):
        rules.update(job(PROCESSING), JobChanges(priority=1))
    edit = rules.update(job(PENDING), JobChanges(priority=1, max_retries=7))
    assert edit.sets == {F.PRIORITY: 1, F.MAX_RETRIES: 7, F.OWN_MAX_RETRIES: 7}
    assert (edit.from_state, edit.wakes_workers) == (PENDING, False)
    for state in (COMPLETED, DEAD, CANCELLED):
        edit = rules.update(job(state), JobChanges(requeue=True))
        assert edit.sets[F.ATTEMPTS] == 0 and edit.sets[F.RUN_AT] == rules.NOW
        assert edit.state is PENDING and edit.wakes_workers
    failed = rules.update(job(FAILED), JobChanges(requeue=True, run_at=500.0))
    assert F.ATTEMPTS not in failed.sets  # keeps its budget
    assert failed.sets[F.RUN_AT] == 500.0


def test_requeue_and_dlq_retry_start_from_scratch_and_delete_deletes() -> None:
    requeued = rules.requeue(job(COMPLETED), default_max_retries=4)
    retried = rules.dlq_retry(job(DEAD), default_max_retries=4)
    for change in (requeued, retried):
        assert change.state is PENDING and change.wakes_workers
        assert change.sets[F.MAX_RETRIES] == rules.RetryBudget(4)
        assert change.sets[F.LAST_ERROR] is None and change.sets[F.ATTEMPTS] == 0
    assert requeued.sets[F.WORKER_ID] is None  # owned by no worker
    assert F.WORKER_ID not in retried.sets  # its last worker is shown until the next claim
    assert rules.delete(job(COMPLETED)).delete


def test_requeue_retry_and_delete_accept_only_their_states() -> None:
    for state in JobState:
        checks: list[tuple[Callable[[Job], rules.Change], bool]] = [
            (lambda j: rules.requeue(j, 3), state is not PENDING and state is not PROCESSING),
            (lambda j: rules.dlq_retry(j, 3), state is DEAD),
            (rules.delete, state in (COMPLETED, DEAD, CANCELLED)),
        ]
        for decide, allowed in checks:
            if allowed:
                decide(job(state))
            else:
                with pytest.raises(InvalidStateChange):
                    decide(job(state))


def test_max_retries_own_else_configured() -> None:
    assert rules.max_retries_for(None, 4) == 4
    assert rules.max_retries_for(0, 4) == 0


def test_stop_now_beats_graceful_and_is_never_downgraded() -> None:
    now, graceful = StopMode.NOW, StopMode.GRACEFUL
    assert rules.stop_request(None, graceful) is graceful
    assert rules.stop_request(graceful, now) is now
    assert rules.stop_request(now, graceful) is now
    assert rules.stops_replaced_by(now) == (graceful, now)
    assert rules.stops_replaced_by(graceful) == (graceful,)
