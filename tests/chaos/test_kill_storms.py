"""SIGKILL (and SIGSTOP) storms while jobs run, leases of 2 s, on every backend.

Five kinds of fault, chosen at random (seeded) at random moments while jobs run:
- a supervisor alone (its jobs, in sessions of their own, run on as orphans);
- a "host": the supervisor's process group and every one of its jobs' groups at once;
- one job's shell;
- one job's whole process group;
- a supervisor frozen (SIGSTOP) for longer than a lease, then continued: its jobs were
  reaped and run by others, and its own late results must change nothing.
A killed supervisor is replaced at once. Jobs are added while the storm lasts, so every
fault strikes running jobs. Then recovery and the invariants (faults.py).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import time
from pathlib import Path

import pytest

from queuectl.store import Store
from tests.chaos.faults import (
    CHAOS_SETTINGS,
    Figures,
    Fleet,
    chaos_rng,
    check_invariants,
    fleet,
    new_jobs,
    new_marker,
    recover,
    unfinished,
)
from tests.helpers import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.shared_store]

KINDS = ("supervisor", "host", "job shell", "job group", "supervisor frozen")


class Freezer:
    """SIGSTOPped supervisors, each continued once longer than a lease has passed: by then
    others have reaped its jobs, and what it finishes afterwards must be discarded."""

    def __init__(self) -> None:
        self.frozen: dict[int, float] = {}  # pid -> when to continue it (monotonic)

    def freeze(self, pid: int, seconds: float) -> None:
        os.kill(pid, signal.SIGSTOP)
        self.frozen[pid] = time.monotonic() + seconds

    def thaw(self, everyone: bool = False) -> None:
        for pid, when in list(self.frozen.items()):
            if everyone or time.monotonic() >= when:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                del self.frozen[pid]


def _kill_job(workers: Fleet, rng: random.Random, whole_group: bool) -> bool:
    """SIGKILL one running job's shell (or its whole group); False if none was found."""
    pids = sorted(workers.job_pids())
    if not pids:
        return False
    pid = rng.choice(pids)
    with contextlib.suppress(ProcessLookupError):
        if whole_group:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    return True


def test_sigkill_storm_loses_nothing(
    store: Store, store_url: str, tmp_path: Path, chaos_scale: float, figures: Figures
) -> None:
    for key, value in CHAOS_SETTINGS.items():
        store.set_config(key, value)
    rng = chaos_rng(figures)
    runs, marker = tmp_path / "runs.txt", new_marker("0.1")
    count, storm = int(150 * chaos_scale), int(24 * chaos_scale)
    with fleet(store_url, tmp_path, marker) as workers:
        for _ in range(3):
            workers.start(3)
        ids = store.enqueue_jobs(new_jobs("storm-", count, runs, marker), 3)
        freezer, batches = Freezer(), itertools.count()
        # A fault that cannot land (a freeze with one supervisor awake, a job that ended
        # first) is drawn again, so the storm is `storm` faults whatever the seed.
        for n in range(3 * storm):
            if sum(figures.faults.values()) >= storm:
                break
            # A random pause (from the seeded RNG), then kill only what is running.
            wait_for(lambda: rng.random() < 0.15, what="a random moment")

            def running() -> list[int]:
                """Job processes to strike; keeps the storm fed, thaws who is due."""
                freezer.thaw()
                if unfinished(store) < 30:
                    more = new_jobs(f"storm-{next(batches)}-", 50, runs, marker)
                    ids.extend(store.enqueue_jobs(more, 3))
                return workers.job_pids()

            workers.wait(running, f"jobs running before fault {n + 1}")
            kind = rng.choice(KINDS)
            awake = [p for p in workers.alive() if p.pid not in freezer.frozen]
            if kind == "supervisor frozen":
                if len(awake) < 2:
                    continue  # someone must go on running jobs
                freezer.freeze(rng.choice(awake).pid, rng.uniform(2.5, 4.0))  # lease: 2 s
            elif kind in ("supervisor", "host"):
                victim = rng.choice(workers.alive())
                (workers.kill if kind == "supervisor" else workers.kill_host)(victim)
                workers.start(3)
            elif not _kill_job(workers, rng, whole_group=kind == "job group"):
                continue
            figures.faults[kind] += 1
        freezer.thaw(everyone=True)
        recover(store, workers)
        check_invariants(store, set(ids), runs, workers, figures)
    assert sum(figures.faults.values()) >= storm * 0.8, figures.faults
