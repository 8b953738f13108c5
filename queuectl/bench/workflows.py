"""Figures about workflows (jobs that run after others): fan-out and fan-in drains beside
an independent drain of as many jobs, taken in turns in the same run; a chain's overhead
per link; and `enqueue --file` of a graph beside as many independent jobs. Every drain,
chain and enqueue starts on a fresh database (`fresh`), so none runs on the rows (and, on
a PostgreSQL server without autovacuum, the dead rows) of the one before."""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from queuectl.bench import Figure
from queuectl.bench.procs import bench_env, queuectl_command, ratio_figure, start_worker, wall
from queuectl.bench.running import enqueue_all
from queuectl.models import AfterMode, JobState, NewJob
from queuectl.store import open_store
from queuectl.workflow import MAX_AFTER

DRAIN_SHARE = 0.9  # fan-out and fan-in drains: at least this share of the independent one
BULK_SHARE = 0.5  # a graph's bulk enqueue: at least this share of independent jobs'
CHAIN_MS = {"sqlite": 2.0, "postgresql": 5.0, "redis": 5.0}  # overhead per link, at most

Shape = Callable[[str, int], list[NewJob]]
Fresh = Callable[[str], AbstractContextManager[str]]  # a name -> an empty database's URL


def independent(prefix: str, jobs: int) -> list[NewJob]:
    return [NewJob(id=f"{prefix}-{i}", command="true") for i in range(jobs)]


def fan_out(prefix: str, jobs: int) -> list[NewJob]:
    """One parent, every other job after it."""
    parent = NewJob(id=f"{prefix}-p", command="true")
    children = [
        NewJob(id=f"{prefix}-{i}", command="true", after=(parent.id,)) for i in range(jobs - 1)
    ]
    return [parent, *children]


def fan_in(prefix: str, jobs: int) -> list[NewJob]:
    """Parents, then one job after them all; a job runs after at most MAX_AFTER jobs, so
    past that as few children as it takes, each after its share of the parents."""
    groups = -(-jobs // (MAX_AFTER + 1))
    parents = [NewJob(id=f"{prefix}-{i}", command="true") for i in range(jobs - groups)]
    children = []
    for g in range(groups):
        mine = tuple(p.id for p in parents[g::groups])
        children.append(NewJob(id=f"{prefix}-c{g}", command="true", after=mine))
    return [*parents, *children]


def _burst(url: str) -> float:
    """Seconds a `worker start --count 2 --burst` takes to drain what is enqueued."""
    start = time.perf_counter()
    if start_worker(url, "--count", "2", "--burst").wait() != 0:
        raise RuntimeError("the workflow drain worker failed")
    return time.perf_counter() - start


def measure(
    fresh: Fresh, backend: str, jobs: int, chained: int, bulk: int, runs: int
) -> list[Figure]:
    """Every workflow figure: `jobs` for the drains, `chained` for the chain, `bulk` for
    the enqueue, `runs` of each."""
    return [
        *drains(fresh, backend, jobs, runs),
        chain(fresh, backend, chained, runs),
        graph_enqueue(fresh, backend, bulk, runs),
    ]


def drains(fresh: Fresh, backend: str, jobs: int, runs: int) -> list[Figure]:
    """An independent drain, a fan-out and a fan-in of `jobs` jobs each, in turns (jobs/s),
    the last two against the first's median."""
    shapes: dict[str, Shape] = {"independent": independent, "fan-out": fan_out, "fan-in": fan_in}
    rates: dict[str, list[float]] = {name: [] for name in shapes}
    for run in range(runs):
        for name, shape in shapes.items():
            with fresh(f"wf_{name.replace('-', '_')}") as url:
                enqueue_all(url, shape(f"{name}{run}", jobs))
                rates[name].append(jobs / _burst(url))
                _check_all(url, JobState.COMPLETED, jobs)
    alone = Figure("drain, independent jobs", backend, "jobs/s", rates["independent"])
    alone.note = f"{jobs} jobs, workflow runs"
    alone_median = alone.median
    groups = -(-jobs // (MAX_AFTER + 1))
    notes = {
        "fan-out": f"1 parent, {jobs - 1} children",
        "fan-in": f"{jobs - groups} parents, {groups} child{'ren' if groups > 1 else ''}",
    }
    figures = [alone]
    for name, note in notes.items():
        figure = Figure(f"drain, {name}", backend, "jobs/s", rates[name], note=note)
        figure.target = f">= {DRAIN_SHARE} x independent"
        figures.append(ratio_figure(figure, alone_median, "independent", DRAIN_SHARE, True))
    return figures


def _check_all(url: str, state: JobState, expected: int) -> None:
    store = open_store(url)
    try:
        found = store.count_jobs().by_state[state]
    finally:
        store.close()
    if found != expected:
        raise RuntimeError(f"workflows: {found} of {expected} jobs {state}")


def chain(fresh: Fresh, backend: str, jobs: int, runs: int) -> Figure:
    """A chain of `jobs` jobs, each after the one before: from the first attempt's start
    to the last one's end, less the attempts' own run times, per link (ms)."""
    overheads, run_ms = [], []
    for run in range(runs):
        ids = [f"chain{run}-{i}" for i in range(jobs)]
        links = [
            NewJob(id=job_id, command="true", after=(ids[i - 1],) if i else ())
            for i, job_id in enumerate(ids)
        ]
        with fresh("wf_chain") as url:
            enqueue_all(url, links)
            _burst(url)
            store = open_store(url)
            try:
                attempts = [store.list_attempts(job_id)[-1] for job_id in ids]
            finally:
                store.close()
        ends = [a.finished_at or 0.0 for a in attempts]
        span = ends[-1] - attempts[0].started_at
        busy = sum(end - a.started_at for a, end in zip(attempts, ends, strict=True))
        overheads.append((span - busy) / (jobs - 1) * 1000)
        run_ms.append(busy / jobs * 1000)
    limit = CHAIN_MS[backend]
    figure = Figure("chain overhead", backend, "ms/link", overheads, target=f"< {limit:g} ms")
    figure.note = f"{jobs} jobs, each run {sorted(run_ms)[len(run_ms) // 2]:.2f} ms"
    figure.ratio = figure.median / limit
    figure.met = figure.median < limit
    return figure


def _graph_lines(jobs: int, prefix: str, seed: int = 7) -> list[str]:
    """`jobs` spec lines, each after 0 to 3 of the 64 jobs before it, modes mixed."""
    rng = random.Random(seed)
    lines = []
    for i in range(jobs):
        spec: dict[str, object] = {"id": f"{prefix}-{i}", "command": "true"}
        if i and (count := rng.randint(0, 3)):
            low = max(0, i - 64)
            picked = sorted({rng.randrange(low, i) for _ in range(count)})
            spec["after"] = [f"{prefix}-{p}" for p in picked]
            spec["after_mode"] = rng.choice(list(AfterMode)).value
        lines.append(json.dumps(spec))
    return lines


def graph_enqueue(fresh: Fresh, backend: str, jobs: int, runs: int) -> Figure:
    """`enqueue --file` of a graph of `jobs` jobs beside `jobs` independent ones, in turns,
    start-up included (jobs/s)."""
    rates: dict[str, list[float]] = {"independent": [], "graph": []}
    with tempfile.TemporaryDirectory(prefix="queuectl-graph-") as folder:
        for run in range(runs):
            for name, samples in rates.items():
                prefix = f"{name[0]}{run}"
                if name == "graph":
                    lines = _graph_lines(jobs, prefix)
                else:
                    lines = [
                        json.dumps({"id": f"{prefix}-{i}", "command": "true"}) for i in range(jobs)
                    ]
                path = os.path.join(folder, f"{prefix}.jsonl")
                with open(path, "w") as out:
                    out.write("\n".join(lines) + "\n")
                with fresh("wf_enqueue") as url:
                    open_store(url).close()  # the schema, as the independent bulk finds it
                    command = [*queuectl_command(), "enqueue", "--file", path]
                    samples.append(jobs / wall(command, bench_env(url)))
    alone = sorted(rates["independent"])[len(rates["independent"]) // 2]
    figure = Figure("bulk enqueue, graph", backend, "jobs/s", rates["graph"])
    figure.note = f"{jobs} jobs, 0-3 after each"
    figure.target = f">= {BULK_SHARE} x independent"
    return ratio_figure(figure, alone, "independent", BULK_SHARE, True)
