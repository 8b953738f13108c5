"""Running queuectl (and the baselines) as real processes, the way people run them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from queuectl.bench import Figure


def queuectl_command() -> list[str]:
    """The installed `queuectl` script next to this Python, else `python -m queuectl`."""
    script = Path(sys.executable).parent / "queuectl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "queuectl"]


def bench_env(url: str | None = None) -> dict[str, str]:
    """The environment for measured commands: bytecode caches on, as after an install
    (some shells set PYTHONDONTWRITEBYTECODE), and the database in QUEUECTL_DB."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("QUEUECTL_DB", None)
    if url is not None:
        env["QUEUECTL_DB"] = url
    return env


def wall(command: list[str], env: dict[str, str], stdin: bytes | None = None) -> float:
    """Seconds one run of `command` takes; fails loudly when the command does."""
    start = time.perf_counter()
    done = subprocess.run(
        command,
        check=False,
        env=env,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode().strip()}")
    return elapsed


def start_worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*queuectl_command(), "worker", "start", "--quiet", *args],
        env=bench_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_SPAWN_LOOP = """
import os, sys, time
n = int(sys.argv[1])
args = ["/bin/sh", "-c", "true"]
start = time.perf_counter()
for _ in range(n):
    os.waitpid(os.posix_spawn("/bin/sh", args, os.environ), 0)
print(time.perf_counter() - start)
"""


def spawn_limit(jobs: int, processes: int = 2) -> float:
    """Processes/s of the bare spawn limit: `processes` loops of posix_spawn + waitpid of
    `/bin/sh -c true`, `jobs` in all (start-up of the loops excluded)."""
    each = max(1, jobs // processes)
    loops = [
        subprocess.Popen([sys.executable, "-c", _SPAWN_LOOP, str(each)], stdout=subprocess.PIPE)
        for _ in range(processes)
    ]
    elapsed = max(float(loop.communicate()[0]) for loop in loops)
    return each * processes / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio_figure(
    figure: Figure, baseline: float, label: str, limit: float, higher_is_better: bool
) -> Figure:
    """Fill in the ratio to the same-run baseline and whether it meets `limit`."""
    figure.baseline = baseline
    figure.baseline_label = label
    figure.ratio = figure.median / baseline if baseline else None
    if figure.ratio is not None:
        figure.met = figure.ratio >= limit if higher_is_better else figure.ratio <= limit
    return figure
