"""systemd `Type=notify`: a worker says READY once it can take jobs and STOPPING when it
begins to stop, on the datagram socket systemd names in $NOTIFY_SOCKET."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import open_store
from tests.helpers import enqueue, kill_matching, start_worker, state_of, stop, wait_for


def _messages(sock: socket.socket) -> Iterator[dict[str, str]]:
    while True:
        data = sock.recv(4096).decode()
        yield dict(line.split("=", 1) for line in data.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_worker_notifies_ready_and_stopping(tmp_path: Path, abstract: bool) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"queuectl-test-{os.getpid()}-{abstract}"
    address = "\0" + name if abstract else str(tmp_path / "notify.sock")
    sock.bind(address)
    sock.settimeout(60)  # a bound on the wait, not a sleep: recv returns on arrival
    env = {"NOTIFY_SOCKET": "@" + name if abstract else address}
    worker = start_worker(str(tmp_path / "q.db"), tmp_path / "worker.log", env=env)
    try:
        messages = _messages(sock)
        ready = next(messages)
        assert ready["READY"] == "1"
        assert ready["MAINPID"] == str(worker.pid)
        assert "slot" in ready["STATUS"]
        worker.send_signal(signal.SIGTERM)
        stopping = next(messages)
        assert stopping["STOPPING"] == "1"
        assert "graceful" in stopping["STATUS"]
        assert worker.wait(60) == 0
    finally:
        stop(worker)
        sock.close()


@pytest.mark.slow
def test_the_status_says_now_once_the_grace_period_is_over(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    mark = f"sleep 1000 # {tmp_path.name}-grace"
    store = open_store(db)
    try:
        store.set_config("grace-period", "1")
        enqueue(store, json.dumps({"id": "long", "command": mark}))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
        sock.settimeout(60)  # a bound on the wait, not a sleep: recv returns on arrival
        worker = start_worker(db, tmp_path / "worker.log", env={"NOTIFY_SOCKET": address})
        try:
            messages = _messages(sock)
            assert next(messages)["READY"] == "1"
            wait_for(lambda: state_of(store, "long") is JobState.PROCESSING, what="job start")
            worker.send_signal(signal.SIGTERM)
            assert "stopping (graceful)" in next(messages)["STATUS"]
            assert "stopping (now)" in next(messages)["STATUS"]  # as the log says
            assert worker.wait(60) == 0
        finally:
            stop(worker)
            kill_matching(mark)
            sock.close()
    finally:
        store.close()


@pytest.mark.not_fast  # a real worker process
def test_jobs_do_not_inherit_the_workers_notify_socket(tmp_path: Path) -> None:
    """A job that wrote READY=1 or STOPPING=1 there would speak for its worker."""
    import subprocess
    import sys

    db = str(tmp_path / "q.db")
    command = 'echo "[${NOTIFY_SOCKET-unset}] [${WATCHDOG_USEC-unset}]"'
    enqueue = [sys.executable, "-m", "queuectl", "--db", db, "enqueue", "--id", "j", "--", command]
    subprocess.run(enqueue, check=True, capture_output=True, timeout=60)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "nobody.sock"), "WATCHDOG_USEC": "1"}
    burst = [sys.executable, "-m", "queuectl", "--db", db, "worker", "start", "--burst"]
    subprocess.run(burst, check=True, capture_output=True, timeout=60, env=env)
    logs = [sys.executable, "-m", "queuectl", "--db", db, "logs", "j"]
    shown = subprocess.run(logs, check=True, capture_output=True, text=True, timeout=60)
    assert shown.stdout == "[unset] [unset]\n"
