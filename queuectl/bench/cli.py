"""Figures about the command line: start-up, a shell loop of enqueues, bulk enqueue."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from queuectl.bench import Figure
from queuectl.bench.procs import bench_env, forkserver, queuectl_command, ratio_figure, wall

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
    the same machine: through the fork server (as every command but a user's first), and
    the ones with a target also in a process of their own (QUEUECTL_FORKSERVER=0)."""
    with forkserver(bench_env(url)) as env:
        alone = {**env, "QUEUECTL_FORKSERVER": "0"}
        qctl = queuectl_command()
        bare_command = [sys.executable, "-c", "pass"]
        for _, args in STARTUP_COMMANDS:  # compile bytecode caches, migrate the database
            wall([*qctl, *args], env)
            wall([*qctl, *args], alone)
        bare: list[float] = []
        times: dict[str, list[float]] = {label: [] for label, _ in STARTUP_COMMANDS}
        own: dict[str, list[float]] = {label: [] for label in _HOT}
        for _ in range(runs):
            bare.append(wall(bare_command, env) * 1000)
            for label, args in STARTUP_COMMANDS:
                times[label].append(wall([*qctl, *args], env) * 1000)
                if label in own:
                    own[label].append(wall([*qctl, *args], alone) * 1000)
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
    for label, samples in own.items():
        figure = Figure(f"start-up {label}, own process", backend, "ms", samples)
        figures.append(ratio_figure(figure, bare_median, "python -c pass"))
    return figures


_LOOP = 'i=0; while [ "$i" -lt "$1" ]; do "$2" enqueue "$3" >/dev/null || exit 1; i=$((i+1)); done'
_LOOP_PY = 'i=0; while [ "$i" -lt "$1" ]; do "$2" -c pass || exit 1; i=$((i+1)); done'


def enqueue_loop(url: str, backend: str, jobs: int, runs: int) -> list[Figure]:
    """A shell loop of single `queuectl enqueue` calls (jobs/s), beside the same loop of
    `python -c pass`: through the fork server, and each in a process of its own."""
    script = queuectl_command()
    if len(script) != 1:
        raise RuntimeError("the enqueue loop needs the installed queuectl script")
    rates: list[float] = []
    own: list[float] = []
    bare: list[float] = []
    with forkserver(bench_env(url)) as env:
        alone = {**env, "QUEUECTL_FORKSERVER": "0"}
        command = ["sh", "-c", _LOOP, "sh", str(jobs), script[0], '{"command":"true"}']
        for _ in range(runs):
            bare.append(jobs / wall(["sh", "-c", _LOOP_PY, "sh", str(jobs), sys.executable], env))
            rates.append(jobs / wall(command, env))
            own.append(jobs / wall(command, alone))
    bare_median = sorted(bare)[len(bare) // 2]
    figure = Figure("enqueue loop", backend, "jobs/s", rates, target=">= 30 jobs/s")
    ratio_figure(figure, bare_median, "loop of python -c pass", 0.0, True)
    figure.met = figure.median >= 30
    alone_figure = Figure("enqueue loop, own process", backend, "jobs/s", own)
    return [figure, ratio_figure(alone_figure, bare_median, "loop of python -c pass")]


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
