"""The Prometheus text exposition format (version 0.0.4) for queuectl's metrics.

Written by hand rather than with prometheus_client: the format is a few lines of text,
and the values come from the store on every scrape (no in-process registry to keep).
Naming follows Prometheus' rules: a `queuectl_` prefix, base units (seconds), counters
ending in `_total`, histograms as cumulative `_bucket{le=...}` series with `_sum` and
`_count`. Counters and histograms are read from counter rows kept by the store in the
same transactions that move jobs, so they never go backwards (restarts, purges).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from queuectl.models import JobState, MetricSample, WorkerInfo

OUTCOMES = ("completed", "failed", "dead", "cancelled")


@dataclass(frozen=True)
class Snapshot:
    """What one scrape shows: per queue (jobs per state, oldest due pending age or None),
    scheduled jobs, live workers, and the stored counter rows with their bucket bounds."""

    queues: Mapping[str, tuple[Mapping[JobState, int], float | None]]
    scheduled: int
    workers: Sequence[WorkerInfo]
    buckets: Sequence[float]
    samples: Sequence[MetricSample]


def render(snap: Snapshot) -> str:
    lines: list[str] = []
    # Every queue seen (counters included): a queue emptied by a purge reads 0, not gone.
    queues = sorted(set(snap.queues) | {s.queue for s in snap.samples})
    _jobs(lines, snap, queues)
    _finished(lines, snap.samples, queues)
    _histogram(
        lines,
        "queuectl_job_run_seconds",
        "How long attempts ran, per queue.",
        queues,
        snap.buckets,
        (s for s in snap.samples if s.kind == "run"),
    )
    _histogram(
        lines,
        "queuectl_job_wait_seconds",
        "How long jobs waited from due (enqueued, run_at or retry time) to start.",
        queues,
        snap.buckets,
        (s for s in snap.samples if s.kind == "wait"),
    )
    _oldest_pending(lines, snap, queues)
    _workers(lines, snap.workers)
    return "\n".join(lines) + "\n"


_NO_JOBS: tuple[Mapping[JobState, int], float | None] = ({}, None)


def _jobs(lines: list[str], snap: Snapshot, queues: Sequence[str]) -> None:
    _family(lines, "queuectl_jobs", "gauge", "Jobs in the store, per queue and state.")
    for queue in queues:
        by_state = snap.queues.get(queue, _NO_JOBS)[0]
        for state in JobState:
            labels = {"queue": queue, "state": state.value}
            lines.append(_sample("queuectl_jobs", labels, by_state.get(state, 0)))
    _family(
        lines,
        "queuectl_jobs_scheduled",
        "gauge",
        "Pending jobs whose run_at is still in the future.",
    )
    lines.append(_sample("queuectl_jobs_scheduled", {}, snap.scheduled))


def _finished(lines: list[str], samples: Sequence[MetricSample], queues: Sequence[str]) -> None:
    name = "queuectl_jobs_finished_total"
    _family(
        lines,
        name,
        "counter",
        "Jobs that reached an outcome, per queue: completed, failed (a retry is due), "
        "dead (moved to the DLQ) or cancelled.",
    )
    finished: Counter[tuple[str, str]] = Counter()
    for s in samples:
        if s.kind in ("run", "end"):
            finished[s.queue, s.outcome] += s.n
    for queue in queues:
        for outcome in OUTCOMES:
            labels = {"queue": queue, "outcome": outcome}
            lines.append(_sample(name, labels, finished[queue, outcome]))


def _oldest_pending(lines: list[str], snap: Snapshot, queues: Sequence[str]) -> None:
    name = "queuectl_queue_oldest_pending_age_seconds"
    _family(
        lines,
        name,
        "gauge",
        "How long the oldest due pending job of each queue has waited (0 when none).",
    )
    for queue in queues:
        age = snap.queues.get(queue, _NO_JOBS)[1]
        lines.append(_sample(name, {"queue": queue}, age or 0.0))


def _workers(lines: list[str], workers: Sequence[WorkerInfo]) -> None:
    _family(lines, "queuectl_workers", "gauge", "Live workers (fresh heartbeat), per host.")
    for host, count in sorted(Counter(w.host for w in workers).items()):
        lines.append(_sample("queuectl_workers", {"host": host}, count))
    _family(lines, "queuectl_slots", "gauge", "Job slots of the live workers.")
    lines.append(_sample("queuectl_slots", {}, sum(w.slots for w in workers)))
    _family(lines, "queuectl_slots_busy", "gauge", "Slots of live workers running a job.")
    lines.append(_sample("queuectl_slots_busy", {}, sum(w.busy for w in workers)))


def _histogram(
    lines: list[str],
    name: str,
    help_text: str,
    queues: Sequence[str],
    buckets: Sequence[float],
    samples: Iterable[MetricSample],
) -> None:
    _family(lines, name, "histogram", help_text)
    per_bucket: dict[str, Counter[float]] = defaultdict(Counter)
    sums: defaultdict[str, float] = defaultdict(float)
    for s in samples:
        per_bucket[s.queue][s.le] += s.n
        sums[s.queue] += s.seconds
    for queue in queues:
        running = 0
        for le in buckets:
            running += per_bucket[queue][le]
            labels = {"queue": queue, "le": _number(le)}
            lines.append(_sample(f"{name}_bucket", labels, running))
        lines.append(_sample(f"{name}_sum", {"queue": queue}, sums[queue]))
        lines.append(_sample(f"{name}_count", {"queue": queue}, running))


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _sample(name: str, labels: Mapping[str, str], value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    pairs = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
    return f"{name}{{{pairs}}} {_number(value)}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
