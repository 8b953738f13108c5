"""Running queuectl (and the baselines) as real processes, the way people run them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from queuectl.bench import Figure


def queuectl_command() -> list[str]:
    """The installed `queuectl` script next to this Python, else `python -m queuectl`."""
    script = Path(sys.executable).parent / "queuectl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "queuectl"]


def bench_env(url: str | None = None) -> dict[str, str]:
    """The environment for measured commands: bytecode caches on, as after an install
    (some shells set PYTHONDONTWRITEBYTECODE), the database in QUEUECTL_DB, and each
    command in a process of its own (`forkserver` below gives one to the figures that
    measure it, and no figure leaves one running)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QUEUECTL_FORKSERVER"] = "0"
    env.pop("QUEUECTL_DB", None)
    if url is not None:
        env["QUEUECTL_DB"] = url
    return env


@contextlib.contextmanager
def forkserver(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`env` with a fork server of its own, started (untimed) and stopped after: what a
    user's second and later short commands find. QUEUECTL_FORKSERVER=0 in `env` for a
    command measures it in a process of its own, as the first command runs."""
    with tempfile.TemporaryDirectory(prefix="queuectl-bench-run-") as runtime:
        os.chmod(runtime, 0o700)
        served = {**env, "XDG_RUNTIME_DIR": runtime}
        served.pop("QUEUECTL_FORKSERVER", None)
        wall([*queuectl_command(), "forkserver", "start"], served)
        try:
            yield served
        finally:
            wall([*queuectl_command(), "forkserver", "stop"], served)


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
    """`worker start ARGS` as a user runs it: its log on (two lines a job), thrown away."""
    return subprocess.Popen(
        [*queuectl_command(), "worker", "start", *args],
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


_CAPTURE_LOOP = """
import os, selectors, sys, time
n, slots = int(sys.argv[1]), int(sys.argv[2])
args, devnull = ["/bin/sh", "-c", "true"], os.open(os.devnull, os.O_RDONLY)
selector = selectors.DefaultSelector()
open_fds = {}

def start():
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    dups = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2)]
    pid = os.posix_spawn("/bin/sh", args, os.environ, file_actions=dups, setsid=True)
    os.close(out_w)
    os.close(err_w)
    exit_fd = os.pidfd_open(pid)
    open_fds[pid] = {out_r, err_r, exit_fd}
    for fd in (out_r, err_r):
        selector.register(fd, selectors.EVENT_READ, (pid, False))
    selector.register(exit_fd, selectors.EVENT_READ, (pid, True))

start_time = time.perf_counter()
started = finished = 0
while started < min(slots, n):
    start()
    started += 1
while finished < n:
    for key, _ in selector.select():
        pid, exited = key.data
        if exited:
            os.waitpid(pid, 0)
        elif os.read(key.fd, 65536):
            continue
        selector.unregister(key.fd)
        os.close(key.fd)
        open_fds[pid].discard(key.fd)
        if not open_fds[pid]:
            del open_fds[pid]
            finished += 1
            if started < n:
                start()
                started += 1
print(time.perf_counter() - start_time)
"""


def capture_limit(jobs: int, slots: int = 2) -> float:
    """Jobs/s of a bare capture loop: one Python process running `slots` `/bin/sh -c
    true` at a time with only what every job needs (stdout and stderr into pipes read to
    the end, the exit watched through a pidfd, epoll): the ceiling of a worker's design,
    before any queue work."""
    loop = subprocess.run(
        [sys.executable, "-c", _CAPTURE_LOOP, str(jobs), str(slots)],
        stdout=subprocess.PIPE,
        check=True,
    )
    return jobs / float(loop.stdout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio_figure(
    figure: Figure,
    baseline: float,
    label: str,
    limit: float | None = None,
    higher_is_better: bool = True,
) -> Figure:
    """Fill in the ratio to the same-run baseline and, given a `limit`, whether it meets
    it (no limit: a figure shown beside its baseline, with no target)."""
    figure.baseline = baseline
    figure.baseline_label = label
    figure.ratio = figure.median / baseline if baseline else None
    if figure.ratio is not None and limit is not None:
        figure.met = figure.ratio >= limit if higher_is_better else figure.ratio <= limit
    return figure
