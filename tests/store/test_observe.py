"""Conformance of the observability methods (live output, counters, throughput, DLQ
groups) on every backend, through the Store interface only."""

from __future__ import annotations

import pytest

from queuectl.models import JobState, LiveTail, MetricSample, RunResult
from queuectl.store import Store, open_store
from tests.conftest import as_claimed, make_job

OK = RunResult(exit_code=0, error=None, stdout=b"final out\n", stderr=b"final err\n")
BOOM = RunResult(exit_code=3, error="exit code 3", stdout=b"x", stderr=b"boom\n")
TIMEOUT = RunResult(exit_code=-15, error="timeout after 1s")
KILLED = RunResult(exit_code=-15, error="cancelled")


def tail(
    job_id: str, out: bytes, err: bytes = b"", worker: str = "w1", attempt: int = 1
) -> LiveTail:
    return LiveTail(job_id, worker, attempt, out, err, len(out), len(err))


def claim(store: Store, *job_ids: str, worker: str = "w1") -> None:
    claimed = store.claim_jobs(worker, None, len(job_ids), 60.0)
    assert sorted(j.id for j in claimed) == sorted(job_ids)


def totals(samples: list[MetricSample]) -> dict[tuple[str, str, str], tuple[int, float]]:
    """(kind, queue, outcome) -> (observations, seconds), buckets summed."""
    found: dict[tuple[str, str, str], tuple[int, float]] = {}
    for s in samples:
        n, seconds = found.get((s.kind, s.queue, s.outcome), (0, 0.0))
        found[s.kind, s.queue, s.outcome] = (n + s.n, seconds + s.seconds)
    return found


# -- live output ---------------------------------------------------------------------------


def test_published_output_is_read_back_while_the_attempt_runs(store: Store) -> None:
    store.enqueue_jobs([make_job("a"), make_job("b")], 3)
    claim(store, "a", "b")
    assert store.publish_output([tail("a", b"one\n", b"e1\n"), tail("b", b"bee\n")]) == 2
    a = store.get_attempt("a")
    assert a is not None and a.finished_at is None
    assert (a.stdout, a.stderr, a.stdout_bytes, a.stderr_bytes) == (b"one\n", b"e1\n", 4, 3)
    cut = LiveTail("a", "w1", 1, b"kept", b"", 1000, 0)  # the tail of 1000 bytes printed
    store.publish_output([cut])
    a = store.get_attempt("a")
    assert a is not None and (a.stdout, a.stdout_bytes, a.stderr) == (b"kept", 1000, b"")
    b = store.get_attempt("b", 1)
    assert b is not None and b.stdout == b"bee\n"


def test_publishing_is_guarded_by_worker_attempt_and_the_attempt_being_open(
    store: Store,
) -> None:
    store.enqueue_jobs([make_job("a")], 3)
    claim(store, "a")
    assert store.publish_output([tail("a", b"intruder", worker="w2")]) == 0
    assert store.publish_output([tail("a", b"wrong attempt", attempt=2)]) == 0
    assert store.publish_output([]) == 0
    assert store.complete_job("a", "w1", 1, OK)
    assert store.publish_output([tail("a", b"too late")]) == 0
    a = store.get_attempt("a")
    assert a is not None
    assert (a.stdout, a.stderr) == (OK.stdout, OK.stderr)  # the final tail stays
    assert a.stdout_bytes == len(OK.stdout) and a.finished_at is not None


def test_get_attempt_picks_the_latest_or_the_numbered_one(store: Store) -> None:
    store.enqueue_jobs([make_job("a", max_retries=1)], 3)
    assert store.get_attempt("a") is None
    assert store.get_attempt("missing") is None
    claim(store, "a")
    assert store.fail_job(as_claimed(store, "a", "w1", 1), BOOM, 0.0) is JobState.FAILED
    claim(store, "a")
    assert store.publish_output([tail("a", b"second run", attempt=2)]) == 1
    latest = store.get_attempt("a")
    first = store.get_attempt("a", 1)
    assert latest is not None and latest.attempt == 2 and latest.stdout == b"second run"
    assert first is not None and first.stdout == BOOM.stdout and first.exit_code == 3
    assert store.get_attempt("a", 3) is None


def test_final_result_records_how_much_each_stream_produced(store: Store) -> None:
    store.enqueue_jobs([make_job("a")], 3)
    claim(store, "a")
    result = RunResult(0, None, stdout=b"end", stderr=b"", stdout_bytes=70_000)
    assert store.complete_job("a", "w1", 1, result)
    a = store.get_attempt("a")
    assert a is not None and (a.stdout_bytes, a.stderr_bytes) == (70_000, 0)


# -- counters ---------------------------------------------------------------------------------


def test_counters_count_claims_runs_and_cancels_and_survive_purge_and_reopen(
    store: Store, store_url: str
) -> None:
    store.enqueue_jobs(
        [
            make_job("ok"),
            make_job("retry", max_retries=1),
            make_job("dead", max_retries=0),
            make_job("running-cancel"),
            make_job("waiting-cancel", queue="other"),
        ],
        3,
    )
    claim(store, "ok", "retry", "dead", "running-cancel")
    assert store.complete_job("ok", "w1", 1, OK)
    assert store.fail_job(as_claimed(store, "retry", "w1", 1), BOOM, 0.0) is JobState.FAILED
    assert store.fail_job(as_claimed(store, "dead", "w1", 1), BOOM, 0.0) is JobState.DEAD
    assert store.cancel_running_job("running-cancel", "w1", 1, KILLED)
    assert store.cancel_jobs(["waiting-cancel"])["waiting-cancel"] is JobState.CANCELLED
    claim(store, "retry")
    assert store.release_job("retry", "w1", 2)  # released: not an outcome
    before = totals(store.metric_samples())
    assert before[("wait", "default", "")][0] == 5  # four claims, then "retry" again
    assert before[("run", "default", "completed")][0] == 1
    assert before[("run", "default", "failed")][0] == 1
    assert before[("run", "default", "dead")][0] == 1
    assert before[("run", "default", "cancelled")][0] == 1
    assert before[("end", "other", "cancelled")] == (1, 0.0)
    assert not any(outcome == "pending" for _, _, outcome in before)
    assert all(seconds >= 0 for _, seconds in before.values())

    final = [JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED]
    assert store.purge_jobs(final) == 4
    assert totals(store.metric_samples()) == before
    store.close()
    reopened = open_store(store_url)
    try:
        assert totals(reopened.metric_samples()) == before
    finally:
        reopened.close()


def test_each_observation_lands_in_one_bucket_of_the_stored_bounds(store: Store) -> None:
    buckets = store.metric_buckets()
    assert buckets == sorted(buckets) and buckets[-1] == float("inf") and buckets[0] > 0
    store.enqueue_jobs([make_job("a"), make_job("b")], 3)
    claim(store, "a", "b")
    assert store.complete_job("a", "w1", 1, OK)
    assert store.complete_job("b", "w1", 1, OK)
    for sample in store.metric_samples():
        assert sample.le in buckets
        # seconds/n is the mean of observations that are all <= le
        assert sample.seconds / sample.n <= sample.le


# -- throughput and DLQ groups ------------------------------------------------------------------


def test_throughput_counts_completed_and_failed_runs_per_minute_across_purges(store: Store) -> None:
    start = store.now()
    store.enqueue_jobs(
        [make_job(f"ok{i}") for i in range(3)]
        + [make_job("bad", max_retries=2), make_job("cancel"), make_job("release")],
        3,
    )
    claim(store, "ok0", "ok1", "ok2", "bad", "cancel", "release")
    for i in range(3):
        assert store.complete_job(f"ok{i}", "w1", 1, OK)
    assert store.fail_job(as_claimed(store, "bad", "w1", 1), BOOM, 0.0) is JobState.FAILED
    assert store.cancel_running_job("cancel", "w1", 1, KILLED)
    assert store.release_job("release", "w1", 1)
    rows = store.throughput(start - 120)
    assert sum(r.completed for r in rows) == 3
    assert sum(r.failed for r in rows) == 1
    assert all(r.start % 60 == 0 and r.start >= start - 180 for r in rows)
    assert store.throughput(store.now() + 120) == []
    store.purge_jobs([JobState.COMPLETED, JobState.CANCELLED])  # counts stay
    assert store.throughput(start - 120) == rows


def test_dead_jobs_are_grouped_by_error_and_exit_code(store: Store) -> None:
    store.enqueue_jobs([make_job(f"d{i}", max_retries=0) for i in range(5)], 3)
    claim(store, *[f"d{i}" for i in range(5)])
    for i, result in enumerate([BOOM, TIMEOUT, BOOM, BOOM, TIMEOUT]):
        assert store.fail_job(as_claimed(store, f"d{i}", "w1", 1), result, 0.0) is JobState.DEAD
    groups = store.dead_groups()
    assert [(g.error, g.exit_code, g.count, g.newest_job_id) for g in groups] == [
        ("exit code 3", 3, 3, "d3"),
        ("timeout after 1s", -15, 2, "d4"),
    ]
    assert store.dead_group_ids("exit code 3", 3) == ["d0", "d2", "d3"]
    assert store.dead_group_ids("timeout after 1s", -15) == ["d1", "d4"]
    assert store.dead_group_ids("exit code 3", 4) == []
    store.retry_dead_jobs(["d0"], 3)
    assert store.dead_group_ids("exit code 3", 3) == ["d2", "d3"]


def test_lost_jobs_without_exit_code_form_their_own_group(store: Store) -> None:
    store.enqueue_jobs([make_job("lost", max_retries=0)], 3)
    claim(store, "lost")
    lost = RunResult(exit_code=None, error="worker lost (lease expired)")
    assert store.fail_job(as_claimed(store, "lost", "w1", 1), lost, 0.0) is JobState.DEAD
    groups = store.dead_groups()
    assert [(g.error, g.exit_code, g.count) for g in groups] == [
        ("worker lost (lease expired)", None, 1)
    ]
    assert store.dead_group_ids("worker lost (lease expired)", None) == ["lost"]


@pytest.mark.parametrize("limit", [1, 3])
def test_a_claim_of_several_jobs_counts_each_wait(store: Store, limit: int) -> None:
    store.enqueue_jobs([make_job(f"j{i}") for i in range(limit)], 3)
    claim(store, *[f"j{i}" for i in range(limit)])
    assert totals(store.metric_samples())[("wait", "default", "")][0] == limit


def test_a_batch_of_results_counts_each_run_and_minute(store: Store) -> None:
    """Stores may tally a batch's counts once (Redis does): none may be lost."""
    start = store.now()
    store.enqueue_jobs([make_job(f"j{i}") for i in range(3)], 3)
    claim(store, "j0", "j1", "j2")
    assert store.complete_jobs("w1", [(f"j{i}", 1, OK) for i in range(3)]) == [True] * 3
    assert totals(store.metric_samples())[("run", "default", "completed")][0] == 3
    assert sum(r.completed for r in store.throughput(start - 120)) == 3


def test_a_throughput_slot_left_from_a_day_ago_starts_over(store: Store) -> None:
    """The per-minute counts are a ring of 1440 slots: yesterday's count in this minute's
    slot must not add to today's, and yesterday's other minutes stay as they were."""
    store.advance_clock(61 - store.now() % 60)  # a minute's start: no minute ends mid-test
    store.advance_clock(-86_400)  # yesterday, this minute and the next
    store.enqueue_jobs([make_job(f"y{i}") for i in range(2)], 3)
    yesterday = int(store.now() // 60)
    for i in range(2):
        claim(store, f"y{i}")
        assert store.complete_job(f"y{i}", "w1", 1, OK)
        store.advance_clock(60)
    store.advance_clock(86_400 - 120)  # today again
    minute = int(store.now() // 60)
    store.enqueue_jobs([make_job("a"), make_job("b", max_retries=0)], 3)
    claim(store, "a", "b")
    assert store.complete_job("a", "w1", 1, OK)
    assert store.fail_job(as_claimed(store, "b", "w1", 1), BOOM, 0.0) is JobState.DEAD
    rows = store.throughput(minute * 60)
    assert (sum(r.completed for r in rows), sum(r.failed for r in rows)) == (1, 1)
    older = {int(r.start // 60): r.completed for r in store.throughput(yesterday * 60)}
    assert older.get(yesterday + 1) == 1  # its slot untouched
    assert yesterday not in older  # this minute's slot started over
