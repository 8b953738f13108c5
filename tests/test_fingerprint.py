"""The failure fingerprint's parts: the normaliser, the last line of stderr, the kind of
an error. Pure functions: no store."""

from __future__ import annotations

import pytest

from queuectl.models import Attempt, Job, JobState
from queuectl.service.fingerprint import error_kind, fingerprint, last_line, normalise


@pytest.mark.parametrize(
    ("line", "normalised"),
    [
        ("Error: /var/data/2026-12-01/report-123.csv not found", "Error: <path> not found"),
        ("./build/out.o: no such file", "<path>: no such file"),
        ("~/cache/x.json is locked", "<path> is locked"),
        (
            "request 550e8400-E29B-41d4-a716-446655440000 failed after 3.5s",
            "request <uuid> failed after <n>s",
        ),
        ("at 2026-12-06T14:03:22.123Z: refused", "at <time>: refused"),
        ("at 2026-12-06 14:03:22+01:00 refused", "at <time> refused"),
        ("retry at 14:03:22 or 9:05", "retry at <time> or <time>"),
        ("object 0xDEADBEEF commit 3f2a9c1b", "object <hex> commit <hex>"),
        ("line 42, in main: job_17 got -3 (1e5)", "line <n>, in main: job_<n> got <n> (<n>)"),
        ("sha256 utf8 v2 deadbeef stay", "sha256 utf8 v2 deadbeef stay"),
        ("  spaces \t  collapse  ", "spaces collapse"),
    ],
)
def test_normalise_replaces_what_varies_between_runs(line: str, normalised: str) -> None:
    assert normalise(line) == normalised


def test_normalise_makes_two_runs_of_one_failure_alike_and_keeps_others_apart() -> None:
    one = "2026-12-06T10:00:01Z worker 4412: cannot open /tmp/job-8812/in.csv (errno 2)"
    two = "2026-12-07T23:59:59Z worker 97: cannot open /srv/x/in.csv (errno 2)"
    other = "2026-12-07T23:59:59Z worker 97: disk full"
    assert normalise(one) == normalise(two) != normalise(other)
    assert len(normalise("x" * 5000)) == 300


def test_last_line_skips_blank_lines_and_survives_bad_utf8() -> None:
    assert last_line(b"first\nTraceback\nValueError: bad\n\n  \n") == "ValueError: bad"
    assert last_line(b"") == "" and last_line(b"\n \n") == ""
    assert last_line(b"caf\xe9 failed\r\n") == "caf\ufffd failed"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("exit code 3", "exit"),
        ("command not found (exit 127)", "exit"),
        ("killed by SIGKILL", "signal"),
        ("timeout after 5s", "timeout"),
        ("cannot start: working directory '/x' does not exist on this host", "start"),
        ("worker lost (lease expired)", "lost"),
        ("exit code 1; output too large to store; kept none of it", "exit"),
        ("something new", "other"),
        (None, "none"),
    ],
)
def test_error_kind(error: str | None, kind: str) -> None:
    assert error_kind(error) == kind


def _dead(error: str, code: int | None) -> Job:
    return Job(
        id="d", command="x", queue="default", state=JobState.DEAD, priority=0, attempts=1,
        max_retries=0, timeout=None, run_at=0.0, created_at=0.0, updated_at=0.0,
        last_error=error, exit_code=code,
    )  # fmt: skip


def test_fingerprint_of_a_job_reads_its_last_attempt() -> None:
    job = _dead("exit code 2", 2)
    attempt = Attempt(
        job_id="d", attempt=1, worker_id="w", started_at=0.0, finished_at=1.0, exit_code=2,
        error="exit code 2", stdout=b"", stderr=b"open /data/7.csv: denied\n",
    )  # fmt: skip
    print_ = fingerprint(job, attempt)
    assert (print_.kind, print_.exit_code, print_.line) == ("exit", 2, "open <path>: denied")
    assert print_.key == fingerprint(job, attempt).key and len(print_.key) == 16
    alone = fingerprint(job, None)  # no attempt record: the job's own error speaks
    assert (alone.kind, alone.exit_code, alone.line) == ("exit", 2, "")
    assert alone.key != print_.key
