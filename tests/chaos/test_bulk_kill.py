"""Every process killed at once, mid bulk enqueue, on every backend.

Each round, workers run jobs while enqueuers (`queuectl enqueue --file` of big files)
insert; at a random moment (seeded) every worker's process group, every job's and every
enqueuer is SIGKILLed in one sweep. Then: the SQLite file passes `PRAGMA integrity_check`;
every bulk whose enqueuer exited 0 (acknowledged) is wholly present; every other bulk is
all or nothing. After the last round, recovery and the invariants (faults.py).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from queuectl.store import Store
from queuectl.store.sqlite_connect import sqlite_path
from tests.chaos.faults import (
    CHAOS_SETTINGS,
    Figures,
    chaos_rng,
    check_invariants,
    fleet,
    job_command,
    new_jobs,
    new_marker,
    queuectl,
    recover,
)

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.shared_store]

ENQUEUERS = 2


def _bulk_file(path: Path, prefix: str, count: int, command: str) -> None:
    """`count` jobs due in a day: the bulk is about the enqueue; what runs are the 'pre-'
    jobs, so the run stays short (the invariants accept jobs scheduled for later)."""
    with open(path, "w") as out:
        for i in range(count):
            spec = {"id": f"{prefix}{i}", "command": command, "delay": 86_400}
            out.write(json.dumps(spec) + "\n")


def _enqueue_seconds(url: str, path: Path) -> float:
    """How long one bulk takes here, start-up included: the kills aim inside it."""
    started = time.monotonic()
    command = queuectl(url, "enqueue", "--file", str(path))
    done = subprocess.run(command, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def _integrity(url: str) -> str:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_kill_everything_mid_bulk_enqueue(
    store: Store,
    store_url: str,
    backend: str,
    tmp_path: Path,
    chaos_scale: float,
    figures: Figures,
) -> None:
    for key, value in CHAOS_SETTINGS.items():
        store.set_config(key, value)
    rng = chaos_rng(figures)
    runs, marker = tmp_path / "runs.txt", new_marker("0.1")
    rounds, bulk = max(1, int(3 * chaos_scale)), 1000
    acknowledged: set[str] = set()
    outcomes = {"acknowledged": 0, "killed, none stored": 0, "killed, all stored": 0}
    calibration = tmp_path / "calibration.jsonl"
    _bulk_file(calibration, "calibration-", bulk, job_command(runs, marker))
    takes = _enqueue_seconds(store_url, calibration)
    acknowledged |= {f"calibration-{i}" for i in range(bulk)}
    with fleet(store_url, tmp_path, marker) as workers:
        for round_number in range(rounds):
            # Work for the workers to be in the middle of when everything dies.
            work = new_jobs(f"work-{round_number}-", 30, runs, marker)
            acknowledged |= set(store.enqueue_jobs(work, 3))
            for _ in range(2):
                workers.start(3)
            workers.wait(workers.job_pids, f"jobs running in round {round_number}")
            enqueuers = {}
            for e in range(ENQUEUERS):
                prefix = f"bulk-{round_number}-{e}-"
                path = tmp_path / f"{prefix}.jsonl"
                _bulk_file(path, prefix, bulk, job_command(runs, marker))
                command = queuectl(store_url, "enqueue", "--file", str(path))
                enqueuers[prefix] = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            # A random moment (seeded): mostly while the bulks insert, sometimes after.
            time.sleep(rng.uniform(0.2, 2.5) * takes)
            for proc in workers.alive():
                workers.kill_host(proc)
            for proc in enqueuers.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            figures.faults["kill-all sweep"] += 1
            for prefix, proc in enqueuers.items():
                out, _ = proc.communicate(timeout=30)
                stored = sum(1 for j in store.list_jobs() if j.id.startswith(prefix))
                if proc.returncode == 0:
                    assert out.decode().split() == [f"{prefix}{i}" for i in range(bulk)], out
                    assert stored == bulk, f"{prefix}: acknowledged, {stored}/{bulk} stored"
                    acknowledged |= {f"{prefix}{i}" for i in range(bulk)}
                    outcomes["acknowledged"] += 1
                else:
                    assert stored in (0, bulk), f"{prefix}: half a bulk stored ({stored})"
                    outcomes["killed, all stored" if stored else "killed, none stored"] += 1
            if backend == "sqlite":
                assert _integrity(store_url) == "ok"
        recover(store, workers, timeout=180)
        check_invariants(store, acknowledged, runs, workers, figures)
    figures.notes.append(", ".join(f"{n} {what}" for what, n in outcomes.items()))
