"""The observe service on every backend: output (whole and followed), throughput, DLQ
groups and the metrics text. Worker-side output is written the way a worker publishes
it (store.publish_output), and the follower is stepped between publishes, so nothing
depends on timing."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import pytest

from queuectl.errors import InvalidSpec, NotFound
from queuectl.models import JobState, LiveTail, RunResult, WorkerRegistration
from queuectl.service import observe
from queuectl.store import Store
from tests.conftest import as_claimed, make_job
from tests.exposition import check_histograms, parse

POLL = 0.01


def claim(store: Store, job_id: str, worker: str = "w1") -> int:
    (job,) = store.claim_jobs(worker, None, 1, 60.0)
    assert job.id == job_id
    return job.attempts


def publish(store: Store, job_id: str, out: bytes, err: bytes = b"", **sizes: int) -> None:
    tail = LiveTail(
        job_id,
        "w1",
        1,
        out,
        err,
        sizes.get("out_bytes", len(out)),
        sizes.get("err_bytes", len(err)),
    )
    assert store.publish_output([tail]) == 1


def test_attempt_output_of_a_running_a_finished_and_an_unrun_job(store: Store) -> None:
    store.enqueue_jobs([make_job("a"), make_job("later", delay=3600)], 3)
    assert observe.attempt_output(store, "later").attempt is None
    with pytest.raises(NotFound):
        observe.attempt_output(store, "nope")
    claim(store, "a")
    publish(store, "a", b"so far\n", b"warn\n")
    out = observe.attempt_output(store, "a")
    assert (out.attempt, out.stdout, out.stderr, out.running) == (1, b"so far\n", b"warn\n", True)
    done = RunResult(0, None, stdout=b"so far\nall\n", stderr=b"warn\n")
    assert store.complete_job("a", "w1", 1, done)
    out = observe.attempt_output(store, "a", 1)
    assert (out.stdout, out.running, out.exit_code, out.error) == (done.stdout, False, 0, None)
    with pytest.raises(NotFound):
        observe.attempt_output(store, "a", 2)


def test_follow_yields_output_so_far_then_only_new_output_then_the_end(store: Store) -> None:
    store.enqueue_jobs([make_job("a", max_retries=0)], 3)
    claim(store, "a")
    publish(store, "a", b"one\n", b"e1\n")
    follow = observe.follow_output(store, "a", poll=POLL)
    assert next(follow) == observe.OutputChunk("stdout", b"one\n")
    assert next(follow) == observe.OutputChunk("stderr", b"e1\n")
    publish(store, "a", b"one\ntwo\n", b"e1\n")
    assert next(follow) == observe.OutputChunk("stdout", b"two\n")
    # The tail was cut (output limit): 10 bytes printed since, 6 of them kept.
    publish(store, "a", b"three\n", b"e1\n", out_bytes=18)
    assert next(follow) == observe.OutputChunk("stdout", b"three\n")
    publish(store, "a", b"three\nfour\n", b"e1\n", out_bytes=23)
    assert next(follow) == observe.OutputChunk("stdout", b"four\n")
    final = RunResult(7, "exit code 7", stdout=b"three\nfour\nlast\n", stderr=b"e1\ne2\n")
    final = RunResult(7, "exit code 7", final.stdout, final.stderr, stdout_bytes=28)
    assert store.fail_job(as_claimed(store, "a", "w1", 1), final, 0.0) is JobState.DEAD
    assert next(follow) == observe.OutputChunk("stdout", b"last\n")
    assert next(follow) == observe.OutputChunk("stderr", b"e2\n")
    assert next(follow) == observe.End(7, JobState.DEAD, "exit code 7")
    assert list(follow) == []


def test_follow_waits_for_a_job_to_start_and_ends_for_one_that_never_runs(
    store: Store,
) -> None:
    store.enqueue_jobs([make_job("a"), make_job("c")], 3)
    waits: list[float] = []

    def start_it(seconds: float) -> None:  # the follower's pause: the job starts meanwhile
        waits.append(seconds)
        if len(waits) == 1:
            claim(store, "a")
            publish(store, "a", b"hi\n")

    follow = observe.follow_output(store, "a", poll=POLL, wait=start_it)
    assert next(follow) == observe.OutputChunk("stdout", b"hi\n")
    assert waits == [POLL]
    store.cancel_jobs(["c"])["c"]
    assert list(observe.follow_output(store, "c", poll=POLL)) == [
        observe.End(None, JobState.CANCELLED, None)
    ]
    with pytest.raises(NotFound):
        next(observe.follow_output(store, "nope", poll=POLL))
    with pytest.raises(NotFound):
        next(observe.follow_output(store, "a", 5, poll=POLL))


def test_throughput_has_every_minute_oldest_first(store: Store) -> None:
    store.enqueue_jobs([make_job("a"), make_job("b", max_retries=0)], 3)
    claim(store, "a")
    claim(store, "b")
    assert store.complete_job("a", "w1", 1, RunResult(0, None))
    assert store.fail_job(as_claimed(store, "b", "w1", 1), RunResult(1, "exit code 1"), 0.0)
    rows = observe.throughput(store, 60)
    assert len(rows) == 60
    starts = [row.start for row in rows]
    assert starts == sorted(starts) and all(s.second == 0 and s.tzinfo == UTC for s in starts)
    assert all((b - a).total_seconds() == 60 for a, b in itertools.pairwise(starts))
    assert starts[-1] <= datetime.now(UTC)
    assert sum(r.completed for r in rows[-2:]) == 1 and sum(r.failed for r in rows[-2:]) == 1
    assert len(observe.throughput(store, 1)) == 1
    for bad in (0, -5, 1441):
        with pytest.raises(InvalidSpec):
            observe.throughput(store, bad)


def test_metrics_text_is_valid_exposition_and_counters_survive_a_purge(store: Store) -> None:
    store.enqueue_jobs(
        [make_job("ok"), make_job("dead", max_retries=0), make_job("q", queue='odd "q"\\')],
        3,
    )
    store.register_worker(WorkerRegistration("w1", "host-a", 1, (), 4))
    claim(store, "ok")
    assert store.complete_job("ok", "w1", 1, RunResult(0, None))
    claim(store, "dead")
    assert store.fail_job(as_claimed(store, "dead", "w1", 1), RunResult(2, "exit code 2"), 0.0)
    types, samples = parse(observe.metrics_text(store))
    check_histograms(types, samples)
    for family in (
        "queuectl_jobs",
        "queuectl_jobs_finished_total",
        "queuectl_job_run_seconds",
        "queuectl_job_wait_seconds",
        "queuectl_queue_oldest_pending_age_seconds",
        "queuectl_workers",
        "queuectl_slots",
        "queuectl_slots_busy",
        "queuectl_jobs_scheduled",
    ):
        assert family in types, family
    finished = ("queuectl_jobs_finished_total", (("outcome", "completed"), ("queue", "default")))
    assert samples[finished] == 1
    assert samples[("queuectl_jobs", (("queue", "default"), ("state", "dead")))] == 1
    odd = ("queuectl_jobs", (("queue", 'odd \\"q\\"\\\\'), ("state", "pending")))
    assert samples[odd] == 1  # label values escaped
    assert samples[("queuectl_workers", (("host", "host-a"),))] == 1
    assert samples[("queuectl_slots", ())] == 4
    assert samples[("queuectl_job_wait_seconds_count", (("queue", "default"),))] == 2
    age = samples[("queuectl_queue_oldest_pending_age_seconds", (("queue", 'odd \\"q\\"\\\\'),))]
    assert age >= 0 and math.isfinite(age)

    store.purge_jobs([JobState.COMPLETED, JobState.DEAD])
    _, after = parse(observe.metrics_text(store))
    for key, value in samples.items():
        if key[0].endswith(("_total", "_count", "_bucket", "_sum")):
            assert after[key] >= value, key
    assert after[("queuectl_jobs", (("queue", "default"), ("state", "dead")))] == 0
