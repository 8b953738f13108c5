"""Schedules with many hosts: three worker supervisors (separate processes, each its own
pretend host) on one PostgreSQL database, one Redis prefix and one SQLite file run a
schedule due every second. Each due time is enqueued exactly once and none is missed
while the workers run: the runs' due times are every second from the first to the last.

The test runs QUEUECTL_SCHEDULE_SECONDS (default 15) seconds of due times per backend;
60 is the figure the docs quote.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from queuectl.models import JobQuery
from queuectl.schedules import CatchUp
from queuectl.service import schedules
from queuectl.store import Store, open_store
from tests.conftest import pg_helpers, redis_helpers
from tests.helpers import start_worker, stop, wait_for

pytestmark = [pytest.mark.slow]
SECONDS = int(os.environ.get("QUEUECTL_SCHEDULE_SECONDS", "15"))


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
        "sqlite",
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        with redis_helpers().fresh_prefix() as found:
            yield found
    elif request.param == "postgres":
        with pg_helpers().fresh_database() as found:
            yield found
    else:
        yield str(tmp_path / "q.db")


def due_times(store: Store) -> list[float]:
    page = store.query_jobs(JobQuery(id_prefix="tick@", order="oldest"), None, None)
    stamps = [job.id.split("@", 1)[1] for job in page]
    assert len(stamps) == len(set(stamps)), f"a due time enqueued twice: {stamps}"
    return sorted(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z").timestamp() for s in stamps)


def test_three_hosts_enqueue_each_due_second_once(url: str, tmp_path: Path) -> None:
    store = open_store(url)
    procs = []
    try:
        schedules.add(store, "tick", {"command": "true"}, every=1.0, catch_up=CatchUp.ALL)
        for n in range(3):
            env = {"QUEUECTL_HOSTNAME": f"host-{n}", "PGAPPNAME": f"host-{n}"}
            log = tmp_path / f"host-{n}.log"
            procs.append(start_worker(url, log, "--count", "2", env=env))
        wait_for(lambda: len(due_times(store)) >= SECONDS, timeout=SECONDS * 3 + 30,
                 what=f"{SECONDS} runs of the schedule")  # fmt: skip
        for proc in procs:
            assert stop(proc) == 0
        times = due_times(store)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps and set(gaps) == {1.0}, f"missed or doubled due times: {gaps}"
        assert schedules.get(store, "tick").skipped == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        store.close()
