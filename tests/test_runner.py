"""runner.py: one command in its own process group, real processes, no mocks."""

from __future__ import annotations

import os
import selectors
import time
import uuid
from pathlib import Path

import pytest

from queuectl.models import Interrupt
from queuectl.runner import (
    Limits,
    Process,
    TailBuffer,
    describe_exit,
    run_command,
    start_command,
)
from queuectl.spawn import seal_inherited_fds
from tests.helpers import kill_matching, processes_matching, wait_for


def marker() -> str:
    return f"{700 + uuid.uuid4().int % 200}.{uuid.uuid4().int % 10_000:04d}"


def test_tail_buffer_keeps_only_the_last_bytes() -> None:
    tail = TailBuffer(10)
    for chunk in (b"0123456789", b"abcdefghij", b"XYZ"):
        tail.write(chunk)
    assert tail.value() == b"defghijXYZ"
    assert TailBuffer(0).value() == b""


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, None),
        (1, "exit code 1"),
        (126, "command not executable (exit 126)"),
        (127, "command not found (exit 127)"),
        (-9, "killed by SIGKILL"),
        (-15, "killed by SIGTERM"),
    ],
)
def test_exit_codes_are_described(code: int, text: str | None) -> None:
    assert describe_exit(code) == text


def test_output_exit_code_and_environment_are_captured() -> None:
    result = run_command(
        'echo "$QUEUECTL_JOB_ID:$QUEUECTL_ATTEMPT"; echo oops >&2; exit 4',
        {"QUEUECTL_JOB_ID": "j1", "QUEUECTL_ATTEMPT": "2"},
        Limits(),
    )
    assert (result.exit_code, result.error) == (4, "exit code 4")
    assert result.stdout == b"j1:2\n"
    assert result.stderr == b"oops\n"
    assert not result.succeeded
    assert result.finished_at >= result.started_at


def test_stdin_is_empty_and_the_job_leads_its_own_session() -> None:
    result = run_command("cat; ps -o sid= -p $$; ps -o pgid= -p $$; echo $$", {}, Limits())
    assert result.succeeded, result.stderr
    sid, pgid, pid = result.stdout.split()
    assert sid == pgid == pid  # session and group leader: killing the group kills it all
    assert int(pid) != os.getsid(0)


def test_no_descriptor_of_ours_leaks_into_a_job(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    with open(ours, "w") as handle:
        os.set_inheritable(handle.fileno(), True)  # as if our parent had left one open
        before = run_command("ls -l /proc/$$/fd", {}, Limits())
        seal_inherited_fds()
        after = run_command("ls -l /proc/$$/fd", {}, Limits())
    assert str(ours).encode() in before.stdout  # the check can see a leak...
    assert str(ours).encode() not in after.stdout  # ...and after sealing there is none


def test_timeout_kills_the_whole_group_and_leaves_no_process() -> None:
    mark = marker()
    try:
        start = time.monotonic()
        result = run_command(
            f"sleep {mark} & sleep {mark}", {}, Limits(timeout=0.3, kill_grace=1.0)
        )
        assert result.error == "timeout after 0.3s"
        assert time.monotonic() - start < 5
        wait_for(lambda: not processes_matching(mark), timeout=5, what="no survivor")
    finally:
        kill_matching(mark)


def test_a_job_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    start = time.monotonic()
    result = run_command("trap '' TERM; sleep 30", {}, Limits(timeout=0.2, kill_grace=0.3))
    assert result.error == "timeout after 0.2s"
    assert result.exit_code == -9
    assert time.monotonic() - start < 5


def test_leftover_background_processes_die_with_the_shell() -> None:
    mark = marker()
    try:
        result = run_command(f"sleep {mark} & echo started", {}, Limits())
        assert result.succeeded and result.stdout == b"started\n"
        wait_for(lambda: not processes_matching(mark), timeout=5, what="background job killed")
    finally:
        kill_matching(mark)


def test_an_escaped_process_holding_the_pipes_does_not_hang_the_job() -> None:
    mark = marker()
    try:
        start = time.monotonic()
        # setsid leaves the group (our kill misses it) but keeps stdout open.
        result = run_command(f"setsid sleep {mark} & sleep 0.2; echo done", {}, Limits())
        assert result.succeeded and result.stdout.startswith(b"done")
        assert time.monotonic() - start < 10
    finally:
        kill_matching(mark)


def test_interrupt_stops_a_running_process_with_its_reason() -> None:
    with selectors.DefaultSelector() as selector:
        process = start_command("sleep 30", {}, Limits(), selector)
        assert isinstance(process, Process)
        process.interrupt(Interrupt.CANCELLED, grace=1.0)
        while not process.done:
            for key, _ in selector.select(1.0):
                process.on_event(key)
            process.on_time(time.monotonic())
        result = process.finish()
    assert result.error == "cancelled"
    assert result.exit_code == -15


def test_huge_output_is_streamed_into_a_bounded_tail() -> None:
    result = run_command("head -c 50000000 /dev/zero; echo END", {}, Limits(output_limit=100))
    assert result.succeeded
    assert len(result.stdout) == 100 and result.stdout.endswith(b"END\n")


# -- whole process trees (no subreaper here: orphans are found by the token) ---------------


def test_a_process_that_left_the_session_dies_with_the_job() -> None:
    mark = marker()
    try:
        result = run_command(f"setsid sleep {mark} & sleep 0.3", {}, Limits())
        assert result.succeeded
        assert not processes_matching(mark)  # run_command returns once the tree is gone
    finally:
        kill_matching(mark)


@pytest.mark.not_fast  # waits out grace periods: seconds
def test_a_timeout_kills_escaped_processes_even_those_ignoring_sigterm() -> None:
    mark = marker()
    try:
        result = run_command(
            f"setsid sh -c 'trap \"\" TERM; sleep {mark}' & setsid sleep {mark} & sleep {mark}",
            {},
            Limits(timeout=0.5, kill_grace=0.5),
        )
        assert result.error == "timeout after 0.5s"
        assert not processes_matching(mark)
    finally:
        kill_matching(mark)


@pytest.mark.not_fast  # seconds
def test_keep_daemons_leaves_what_the_command_left_running() -> None:
    mark = marker()
    try:
        result = run_command(f"setsid sleep {mark} & sleep 0.3", {}, Limits(), keep_daemons=True)
        assert result.succeeded
        assert len(processes_matching(mark)) == 1
    finally:
        kill_matching(mark)


def test_each_command_carries_a_token_of_its_own() -> None:
    first = run_command("echo $QUEUECTL_RUN", {}, Limits())
    second = run_command("echo $QUEUECTL_RUN", {}, Limits())
    assert first.stdout.strip() and second.stdout.strip()
    assert first.stdout != second.stdout


@pytest.mark.not_fast  # waits out grace periods: seconds
@pytest.mark.parametrize("ending", ["exit", "timeout"])
def test_each_leftover_gets_one_sigterm_then_sigkill(tmp_path: Path, ending: str) -> None:
    """A trap that cleans up runs once: a process is not sent SIGTERM twice (by its group
    and again by its token, or at the timeout and again when the shell exits)."""
    mark = marker()
    log, ready = tmp_path / "terms", tmp_path / "ready"
    # Each trap says when it is set, and the job ends (or starts to time out) only then,
    # so a slow machine cannot kill a shell before its trap exists.
    trap = (
        f"trap 'date +{{}}:%s.%N >> {log}' TERM; echo >> {ready}; "
        f"while :; do sleep 0.05; done; : {mark}"
    )
    both_set = f"until [ $(cat {ready} 2>/dev/null | wc -l) -ge 2 ]; do sleep 0.01; done"
    last = both_set if ending == "exit" else f"{both_set}; sleep 30"
    command = f'sh -c "{trap.format("group")}" & setsid sh -c "{trap.format("escaped")}" & {last}'
    limits = Limits(timeout=0 if ending == "exit" else 2.0, kill_grace=1.0)
    try:
        result = run_command(command, {}, limits)
        assert (result.error is None) == (ending == "exit")
        assert not processes_matching(mark)
        assert sorted(line.split(":")[0] for line in log.read_text().split()) == [
            "escaped",
            "group",
        ]
    finally:
        kill_matching(mark)
