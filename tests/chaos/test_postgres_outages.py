"""PostgreSQL restarted, crashed (SIGKILL of the postmaster) and frozen (SIGSTOP of every
server process) while workers run jobs, on a server of the test's own (tests.own_postgres,
never the shared one). Every job completes, with exactly one recorded success; an extra
run only where a record says an attempt was lost (a crash may forget commits that were
not yet flushed: workers commit with synchronous_commit=off)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import Store, open_store
from tests.chaos.faults import (
    CHAOS_SETTINGS,
    Figures,
    chaos_rng,
    check_invariants,
    fleet,
    new_jobs,
    new_marker,
    recover,
    tolerant,
)
from tests.own_postgres import OwnPostgres

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def own_store(own_postgres: OwnPostgres) -> Iterator[Store]:
    opened = open_store(own_postgres.url)
    try:
        yield opened
    finally:
        opened.close()


def completed(store: Store) -> int:
    return store.count_jobs().by_state[JobState.COMPLETED]


@pytest.mark.parametrize("fault", ["restart", "crash", "freeze"])
def test_server_fault_mid_run_every_job_completes_once(
    fault: str,
    own_postgres: OwnPostgres,
    own_store: Store,
    tmp_path: Path,
    chaos_scale: float,
    figures: Figures,
) -> None:
    server, store = own_postgres, own_store
    for key, value in {**CHAOS_SETTINGS, "lease-seconds": "4"}.items():
        store.set_config(key, value)
    rng = chaos_rng(figures)
    runs, marker = tmp_path / "runs.txt", new_marker("0.05")
    faults, count = max(1, int(2 * chaos_scale)), int(150 * chaos_scale)
    with fleet(server.url, tmp_path, marker) as workers:
        for _ in range(2):
            workers.start(3)
        workers.wait(lambda: len(store.list_workers()) == 2, "both workers connected")
        ids = store.enqueue_jobs(new_jobs(f"{fault}-", count, runs, marker), 3)
        done = 0
        for n in range(faults):
            target = done + 15
            workers.wait(
                tolerant(lambda: completed(store) >= target),  # noqa: B023
                f"{target} jobs completed before fault {n + 1}",
            )
            if fault == "restart":
                server.restart()
            elif fault == "crash":
                server.crash()
            else:
                with server.frozen():
                    time.sleep(rng.uniform(0.5, 2.5))  # how long the server stays frozen
            figures.faults[f"server {fault}"] += 1
            done = workers.wait(tolerant(lambda: completed(store) + 1), "a count") - 1
        assert done < len(ids), "the run ended before the last fault"
        workers.assert_all_alive()  # they rode the fault out
        recover(store, workers)
        check_invariants(store, set(ids), runs, workers, figures, forgetful=fault == "crash")
        states = {job.id: job.state for job in store.list_jobs()}
        assert set(states.values()) == {JobState.COMPLETED}, states
