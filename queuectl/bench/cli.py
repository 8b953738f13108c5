"""Figures about the command line: start-up, a shell loop of enqueues, bulk enqueue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from queuectl.bench import Figure
from queuectl.bench.procs import bench_env, queuectl_command, ratio_figure, wall

STARTUP_COMMANDS = [
    ("enqueue '<json>'", ["enqueue", '{"command":"true"}']),
    ("enqueue -- CMD", ["enqueue", "--queue", "ci", "--", "make", "test"]),
    ("status --json", ["status", "--json"]),
    ("status", ["status"]),
    ("list", ["list"]),
    ("list --json", ["list", "--json"]),
    ("show --last", ["show", "--last"]),
    ("logs --last --json", ["logs", "--last", "--json"]),
]
_HOT = {"enqueue '<json>'", "status --json"}  # the ones with a target


def startup(url: str, backend: str, runs: int) -> list[Figure]:
    """Wall time of each command beside `python -c pass`, runs interleaved so both see
    the same machine."""
    env = bench_env(url)
    qctl = queuectl_command()
    bare_command = [sys.executable, "-c", "pass"]
    for _, args in STARTUP_COMMANDS:  # compile bytecode caches, migrate the database
        wall([*qctl, *args], env)
    bare: list[float] = []
    times: dict[str, list[float]] = {label: [] for label, _ in STARTUP_COMMANDS}
    for _ in range(runs):
        bare.append(wall(bare_command, env) * 1000)
        for label, args in STARTUP_COMMANDS:
            times[label].append(wall([*qctl, *args], env) * 1000)
    bare_median = sorted(bare)[len(bare) // 2]
    figures = [Figure("start-up python -c pass", backend, "ms", bare)]
    for label, samples in times.items():
        figure = Figure(f"start-up {label}", backend, "ms", samples)
        if label in _HOT:
            limit_ms = " and <= 150 ms" if backend == "postgresql" else ""
            figure.target = f"<= 3x python -c pass{limit_ms}"
            ratio_figure(figure, bare_median, "python -c pass", 3.0, False)
            if backend == "postgresql":
                figure.met = bool(figure.met) and figure.median <= 150
        else:
            ratio_figure(figure, bare_median, "python -c pass")
        figures.append(figure)
    return figures


_LOOP = 'i=0; while [ "$i" -lt "$1" ]; do "$2" enqueue "$3" >/dev/null || exit 1; i=$((i+1)); done'
_LOOP_PY = 'i=0; while [ "$i" -lt "$1" ]; do "$2" -c pass || exit 1; i=$((i+1)); done'


def enqueue_loop(url: str, backend: str, jobs: int, runs: int) -> Figure:
    """A shell loop of single `queuectl enqueue` calls (jobs/s), beside the same loop of
    `python -c pass`."""
    env = bench_env(url)
    script = queuectl_command()
    if len(script) != 1:
        raise RuntimeError("the enqueue loop needs the installed queuectl script")
    rates, bare = [], []
    for _ in range(runs):
        bare.append(jobs / wall(["sh", "-c", _LOOP_PY, "sh", str(jobs), sys.executable], env))
        command = ["sh", "-c", _LOOP, "sh", str(jobs), script[0], '{"command":"true"}']
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True)
        rates.append(jobs / (time.perf_counter() - start))
    figure = Figure("enqueue loop", backend, "jobs/s", rates, target=">= 30 jobs/s")
    ratio_figure(figure, sorted(bare)[len(bare) // 2], "loop of python -c pass", 0.0, True)
    figure.met = figure.median >= 30
    return figure


def bulk_enqueue(url: str, backend: str, jobs: int, runs: int) -> Figure:
    """`queuectl enqueue --file` of `jobs` JSON lines, start-up included (jobs/s)."""
    env = bench_env(url)
    rates = []
    with tempfile.TemporaryDirectory(prefix="queuectl-bulk-") as folder:
        for run in range(runs):
            path = os.path.join(folder, f"jobs{run}.jsonl")
            with open(path, "w") as out:
                for i in range(jobs):
                    out.write(json.dumps({"id": f"b{run}-{i}", "command": "true"}) + "\n")
            seconds = wall([*queuectl_command(), "enqueue", "--file", path], env)
            rates.append(jobs / seconds)
    goal = {"postgresql": 30_000, "redis": 50_000}.get(backend, 100_000)
    figure = Figure("bulk enqueue", backend, "jobs/s", rates, target=f">= {goal:,} jobs/s")
    figure.note = f"{jobs} jobs"
    figure.ratio = figure.median / goal
    figure.met = figure.median >= goal
    return figure
