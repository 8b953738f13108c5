"""Unique keys under real concurrency: two processes enqueue one key 500 times each at
once (a process of eight threads, each on its own connection, calling what `queuectl
enqueue` calls; and a running `queuectl serve` answering 500 POSTs), with real `queuectl
enqueue` processes among them, and exactly one job waits; its key frees once it ends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from queuectl.models import JobState, RunResult
from queuectl.store import open_store
from tests.web.browsing import Server

KEY = "sync-user-42"
EACH = 500  # enqueues by each of the two processes
COMMANDS = 40  # and by as many `queuectl enqueue` processes meanwhile
QUEUECTL = str(Path(sys.executable).with_name("queuectl"))

# The enqueuing process: 8 threads, each with its own store (connection), EACH enqueues in
# all; they start together once the test says "go" on stdin, as the API's threads do.
PRODUCER = """
import json, sys, threading
from queuectl import service
from queuectl.store import open_store

url, key, count, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), 8
stores = [open_store(url) for _ in range(threads)]
answers = []
start = threading.Barrier(threads)

def enqueue(store):
    start.wait()
    for _ in range(count // threads):
        job = service.spec_with_overrides({"command": "true", "unique_key": key}, {})
        [answer] = service.enqueue_answers(store, [job])
        answers.append([answer.id, not answer.duplicate])

print("ready", flush=True)
sys.stdin.readline()
workers = [threading.Thread(target=enqueue, args=(store,)) for store in stores]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
for store in stores:
    store.close()
print(json.dumps(answers))
"""
THREADS = 8  # the API's callers, as many as the producer's


def cli_enqueue(url: str) -> tuple[str, bool]:
    """One `queuectl enqueue` process: the id it printed, and whether it added a job."""
    done = subprocess.run(
        [QUEUECTL, "--db", url, "enqueue", "--unique-key", KEY, "--", "true"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), "duplicate" not in done.stderr


@pytest.mark.slow
@pytest.mark.shared_store
@pytest.mark.timeout(600)
def test_concurrent_enqueues_of_one_key_leave_one_waiting_job(
    store_url: str, serve: Callable[..., Server]
) -> None:
    server = serve(db=store_url)
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, store_url, KEY, str(EACH)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert producer.stdout is not None and producer.stdin is not None
    assert producer.stdout.readline() == "ready\n"
    spec = {"command": "true", "unique_key": KEY}
    start = threading.Barrier(THREADS)
    with httpx.Client(base_url=server.base, timeout=120) as client:
        client.get("/healthz")

        def api_enqueue(_: int) -> list[tuple[str, bool]]:
            start.wait()
            answers = []
            for _ in range(EACH // THREADS):
                answer = client.post("/api/jobs", json=spec)
                assert answer.status_code in (200, 201), answer.text
                answers.append((answer.json()["id"], answer.status_code == 201))
            return answers

        with ThreadPoolExecutor(THREADS) as api_pool, ThreadPoolExecutor(2) as cli_pool:
            producer.stdin.write("go\n")
            producer.stdin.flush()
            by_thread = api_pool.map(api_enqueue, range(THREADS))
            from_cli = cli_pool.map(lambda _: cli_enqueue(store_url), range(COMMANDS))
            from_api = [answer for answers in by_thread for answer in answers]
            from_commands = list(from_cli)
    out, err = producer.communicate(timeout=300)
    assert producer.returncode == 0, err
    from_producer = [(job_id, added) for job_id, added in json.loads(out)]
    answers = [*from_producer, *from_api, *from_commands]
    assert len(answers) == 2 * (EACH // THREADS * THREADS) + COMMANDS
    ids = {job_id for job_id, _ in answers}
    assert len(ids) == 1, f"{len(ids)} jobs answered"
    assert sum(added for _, added in answers) == 1
    store = open_store(store_url)
    try:
        counts = store.count_jobs().by_state
        assert counts[JobState.PENDING] == 1 and sum(counts.values()) == 1
        # once that job completes, its key is free again
        [job] = store.claim_jobs("w1", None, 1, 60.0)
        assert job.id in ids
        assert store.complete_job(job.id, "w1", job.last_attempt, RunResult(0, None))
        fresh, added = cli_enqueue(store_url)
        assert added and fresh != job.id
    finally:
        store.close()
