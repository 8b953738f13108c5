"""What a worker supervisor keeps about each of its processes (worker_members.Member):
its signals reach that process and no other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.worker_members import Member

# A process that holds SIGUSR1 blocked: a SIGUSR1 sent to it stays pending, where
# /proc shows it as soon as the sender's call returns (no waiting on a handler).
_HOLDS_SIGUSR1 = """
import signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("ready", flush=True)
time.sleep(60)
"""


def _holding() -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDS_SIGUSR1], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


def _has_sigusr1_pending(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return bool(pending & (1 << (signal.SIGUSR1 - 1)))


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[str]]:
    """A live process that is none of the supervisor's business."""
    process = _holding()
    yield process
    process.kill()
    process.wait()


def _member(pid: int, exit_fd: int) -> Member:
    report_fd, log_fd = os.pipe()
    return Member(0, 1, pid, exit_fd, report_fd, log_fd, time.monotonic())


def _close(member: Member) -> None:
    for fd in (member.exit_fd, member.report_fd, member.log_fd):
        os.close(fd)


def test_a_signal_never_reaches_the_process_that_took_a_reaped_members_pid(
    bystander: subprocess.Popen[str],
) -> None:
    # Where SIGCHLD is ignored the kernel reaps a member as it exits, and the supervisor
    # has no returncode for it yet. Its pid may then be another process's: here the
    # bystander's, while its pidfd still names the member that is gone.
    gone = subprocess.Popen(["true"])
    exit_fd = os.pidfd_open(gone.pid)
    gone.wait()
    member = _member(bystander.pid, exit_fd)
    try:
        with pytest.raises(ProcessLookupError):
            member.send_signal(signal.SIGUSR1)
        assert not _has_sigusr1_pending(bystander.pid)
    finally:
        _close(member)


def test_a_signal_reaches_a_live_member() -> None:
    alive = _holding()
    member = _member(alive.pid, os.pidfd_open(alive.pid))
    try:
        member.send_signal(signal.SIGUSR1)
        assert _has_sigusr1_pending(alive.pid)
    finally:
        alive.kill()
        alive.wait()
        _close(member)


def test_a_reaped_member_is_not_signalled(bystander: subprocess.Popen[str]) -> None:
    # Its pidfd is closed once it is reaped, and the descriptor's number may be reused
    # at once, by the pidfd of another process (the bystander's, here).
    member = _member(bystander.pid, os.pidfd_open(bystander.pid))
    member.returncode = 0
    try:
        member.send_signal(signal.SIGUSR1)
        assert not _has_sigusr1_pending(bystander.pid)
    finally:
        _close(member)


def test_a_member_reaped_while_it_was_signalled_is_no_error() -> None:
    # The watchdog's thread signals every member while the loop may reap one and close
    # its pidfd between the check on its returncode and the signal.
    closed = os.open(os.devnull, os.O_RDONLY)
    os.close(closed)
    member = _member(os.getpid(), closed)
    try:
        member.send_signal(signal.SIGUSR1)
    finally:
        os.close(member.report_fd)
        os.close(member.log_fd)
