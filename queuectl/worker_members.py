"""The processes of a worker supervisor (supervisor.py): how one is started, what the
supervisor keeps about it, and how `worker list` finds them on this host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from queuectl.spawn import HIDDEN_FROM_JOBS

PROCESS_MODULE = "queuectl.worker_process"  # what names them in /proc (`worker list`)


@dataclass
class Member:
    """One process: its share of the slots, and what it has said so far."""

    index: int
    slots: int
    popen: subprocess.Popen[bytes]
    exit_fd: int
    report_fd: int
    log_fd: int
    started: float  # monotonic
    log_buf: bytes = b""
    report_buf: bytes = b""
    ready: bool = False
    stopping: tuple[str, int] | None = None  # its stop mode and jobs still running
    ended: dict[str, object] | None = None  # its last report: why, what it recorded
    open_fds: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.popen.pid


def start_member(index: int, slots: int, spec: dict[str, object], url: str) -> Member:
    """Start `python -m queuectl.worker_process SPEC` with a pipe to report on, its
    stderr (its log lines) to read, in a process group of its own."""
    report_read, report_write = os.pipe()
    spec = {**spec, "parent": os.getpid(), "report_fd": report_write}
    # Only the supervisor speaks to systemd; the database goes by the environment (in
    # argv, `ps` would show its password).
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_FROM_JOBS}
    env["QUEUECTL_DB"] = url
    try:
        popen = subprocess.Popen(
            [sys.executable, "-m", PROCESS_MODULE, json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(report_write,),
            process_group=0,  # a terminal's Ctrl-C reaches the supervisor alone
            env=env,
        )
    except BaseException:
        os.close(report_read)
        raise
    finally:
        os.close(report_write)
    assert popen.stderr is not None
    exit_fd = os.pidfd_open(popen.pid)
    return Member(
        index, slots, popen, exit_fd, report_read, popen.stderr.fileno(), time.monotonic()
    )


def member_pids(pid: int) -> list[int]:
    """The processes of the supervisor `pid` on this host (from /proc; [] elsewhere or
    when it has none): what `worker list` shows beside a worker."""
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = listing.read().split()
    except OSError:
        return []
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                if PROCESS_MODULE.encode() in handle.read():
                    found.append(int(child))
        except OSError:
            continue
    return found
