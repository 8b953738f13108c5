"""Full and read-only disks, on a small tmpfs the test mounts (SQLite: the file is the
database). Needs root and a kernel that lets this container mount tmpfs; otherwise the
tests skip with the reason (and fail under CI=true).

- enqueue on a full disk: one `error:` line, exit 1, the database unchanged;
- workers on a disk that fills up mid-run: they wait and retry, and once space is back
  every job completes (the invariants);
- a read-only database: every command says so in one `error:` line, exit 1, promptly
  (a burst worker too: it cannot ever write there, so it must not retry forever).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.models import JobState, NewJob
from queuectl.store import Store, open_store
from tests.chaos.faults import (
    CHAOS_SETTINGS,
    Figures,
    check_invariants,
    fleet,
    new_marker,
    queuectl,
    recover,
)
from tests.own_postgres import unavailable

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

DISK_MB = 16  # room for everything the tests store; the filler takes the rest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A DISK_MB tmpfs mounted at tmp_path/disk, unmounted afterwards."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs needs root")
    mounted = _mount("-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where))
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(directory: Path) -> Path:
    """Fill the file system to its last byte; the filler file is returned (delete it to
    give the space back)."""
    filler = directory / f"filler-{uuid.uuid4().hex}"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler


def is_full(directory: Path) -> bool:
    try:
        with open(directory / "probe", "wb", buffering=0) as out:
            out.write(b"x")
    except OSError as err:
        return err.errno == errno.ENOSPC
    os.unlink(directory / "probe")
    return False


def snapshot(path: Path) -> list[object]:
    """Every row of every table, read with plain sqlite3 (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, sorted(map(repr, conn.execute(f"SELECT * FROM {t}")))) for t in tables]
    finally:
        conn.close()


def run(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        queuectl(url, *args), capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_enqueue_on_a_full_disk_changes_nothing(disk: Path, figures: Figures) -> None:
    db = disk / "q.db"
    url = str(db)
    first = run(url, "enqueue", '{"id": "before", "command": "true"}')
    assert first.returncode == 0, first.stderr
    before = snapshot(db)  # (on a full disk even a reader fails: it needs the -shm file)
    filler = fill(disk)
    assert is_full(disk)
    bulk = disk.parent / "bulk.jsonl"  # not on the full disk
    with open(bulk, "w") as out:
        for i in range(3000):
            out.write(json.dumps({"id": f"bulk-{i}", "command": "echo " + "x" * 500}) + "\n")
    big = json.dumps({"id": "big", "command": "echo " + "y" * 100_000})
    attempts = [("enqueue", "--file", str(bulk)), ("enqueue", big)]
    for args in attempts:
        done = run(url, *args)
        line = assert_one_error(done)
        assert "disk is full" in line.replace(url, "<db>"), line  # (the path says "full")
        assert done.stdout == ""
        figures.faults["enqueue on a full disk"] += 1
    os.unlink(filler)
    assert snapshot(db) == before, "a failed enqueue changed the database"
    again = run(url, "enqueue", "--file", str(bulk))
    assert again.returncode == 0, again.stderr
    store = open_store(url)
    try:
        assert len(store.list_jobs()) == 3001
    finally:
        store.close()
    figures.jobs = 3001


def test_workers_on_a_filling_disk_lose_nothing(
    disk: Path, tmp_path: Path, chaos_scale: float, figures: Figures
) -> None:
    url = str(disk / "q.db")
    store = open_store(url)
    try:
        for key, value in CHAOS_SETTINGS.items():
            store.set_config(key, value)
        runs, marker = tmp_path / "runs.txt", new_marker("0.02")
        # Each job prints 2 KB, which the workers store: the write-ahead log grows.
        command = (
            f'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {runs}; '
            f"head -c 2000 /dev/urandom | od -An | head -c 2000; sleep {marker}"
        )
        count = int(200 * chaos_scale)
        jobs = [NewJob(id=f"full-{i}", command=command) for i in range(count)]
        ids = store.enqueue_jobs(jobs, 3)
        with fleet(url, tmp_path, marker) as workers:
            for _ in range(2):
                workers.start(3)
            workers.wait(lambda: _completed(store) >= 20, "20 jobs completed before the fill")
            filler = fill(disk)
            figures.faults["disk filled mid-run"] += 1
            workers.wait(
                lambda: "disk is full" in workers.all_logs(), "a worker meeting the full disk"
            )
            os.unlink(filler)
            assert _completed(store) < count, "the run ended before the disk was full"
            workers.assert_all_alive()  # they rode the fault out
            recover(store, workers)
            check_invariants(store, set(ids), runs, workers, figures)
    finally:
        store.close()


def _completed(store: Store) -> int:
    return store.count_jobs().by_state[JobState.COMPLETED]


def test_read_only_database_gives_a_clear_error(disk: Path, figures: Figures) -> None:
    url = str(disk / "q.db")
    assert run(url, "enqueue", '{"id": "kept", "command": "true"}').returncode == 0
    remounted = _mount("-o", "remount,ro", str(disk))
    assert remounted.returncode == 0, remounted.stderr
    figures.faults["read-only remount"] += 1
    for args in (
        ("enqueue", '{"command": "true"}'),
        ("status",),
        ("worker", "start", "--burst"),
    ):
        done = run(url, *args, timeout=60)
        assert_one_error(done, "read-only")
    _mount("-o", "remount,rw", str(disk))
    store = open_store(url)
    try:
        assert [job.id for job in store.list_jobs()] == ["kept"]
    finally:
        store.close()
    figures.jobs = 1
