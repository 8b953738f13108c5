"""Heavy contention on one SQLite file: 8 worker supervisors and 3 enqueuers at once.

Each enqueuer alternates bulk (`enqueue --file`) and single enqueues as fast as it can
while every worker claims and records. No command may fail and nothing anywhere (command
stderr, worker logs) may mention a locked or busy database; then the invariants.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import pytest

from queuectl.store import Store
from tests.chaos.faults import (
    CHAOS_SETTINGS,
    Figures,
    check_invariants,
    fleet,
    job_command,
    new_marker,
    queuectl,
    recover,
)

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

WORKERS, ENQUEUERS, BULK = 8, 3, 25
BULK_SUMMARY = re.compile(r"enqueued \d+ jobs?")  # what `enqueue --file` says on stderr


def _enqueuer(
    url: str, name: str, rounds: int, command: str, tmp_path: Path, out: list[tuple[str, int, str]]
) -> None:
    """Bulk, single, bulk, single...; records (what, exit code, stderr) of every call."""
    for r in range(rounds):
        path = tmp_path / f"{name}-{r}.jsonl"
        with open(path, "w") as handle:
            for i in range(BULK):
                handle.write(json.dumps({"id": f"{name}-{r}-{i}", "command": command}) + "\n")
        calls = [
            ("bulk", queuectl(url, "enqueue", "--file", str(path))),
            (
                "single",
                queuectl(url, "enqueue", json.dumps({"id": f"{name}-{r}-one", "command": command})),
            ),
        ]
        for what, argv in calls:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
            out.append((f"{name} {what} {r}", done.returncode, done.stderr))


def test_eight_workers_three_enqueuers_one_file(
    tmp_path: Path, chaos_scale: float, figures: Figures
) -> None:
    from queuectl.store import open_store

    url = str(tmp_path / "contended.db")
    store: Store = open_store(url)
    try:
        for key, value in CHAOS_SETTINGS.items():
            store.set_config(key, value)
        runs, marker = tmp_path / "runs.txt", new_marker("0.02")
        command = job_command(runs, marker)
        rounds = max(1, int(8 * chaos_scale))
        results: list[tuple[str, int, str]] = []
        with fleet(url, tmp_path, marker) as workers:
            for _ in range(WORKERS):
                workers.start(2)
            threads = [
                threading.Thread(
                    target=_enqueuer, args=(url, f"e{n}", rounds, command, tmp_path, results)
                )
                for n in range(ENQUEUERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(600)
            failed = [
                (what, code, err)
                for what, code, err in results
                if code != 0 or (err.strip() and not BULK_SUMMARY.fullmatch(err.strip()))
            ]
            assert not failed, failed[:5]
            acknowledged = {
                f"e{n}-{r}-{i}"
                for n in range(ENQUEUERS)
                for r in range(rounds)
                for i in range(BULK)
            } | {f"e{n}-{r}-one" for n in range(ENQUEUERS) for r in range(rounds)}
            recover(store, workers)
            logs = workers.all_logs()
            for word in ("locked", "busy", "unavailable"):
                assert word not in logs, [line for line in logs.splitlines() if word in line][:5]
            check_invariants(store, acknowledged, runs, workers, figures)
        figures.notes.append(
            f"{WORKERS} workers x 2 slots, {ENQUEUERS} enqueuers, {len(results)} enqueue calls"
        )
    finally:
        store.close()
