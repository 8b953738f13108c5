"""Input built to break the parser or the error line: trailing newlines in ids and
queue names, bytes that are not UTF-8, JSON nested thousands deep, and error messages
that quote control characters. Each is one `error:` line, a non-zero exit and an
unchanged database; random inputs of the same kinds are in tests/chaos/test_fuzz_inputs.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run, Snapshot

# The `seeded` fixture: asserts that the database is as it was when seeded.
Unchanged = Callable[[], None]


@pytest.fixture
def seeded(run: Run, snapshot: Snapshot) -> Unchanged:
    """One job and one setting; returns a check that nothing changed since."""
    run("enqueue", '{"id":"existing","command":"echo hi"}').ok()
    run("config", "set", "max-retries", "4").ok()
    before = snapshot()

    def unchanged() -> None:
        assert snapshot() == before

    return unchanged


# -- `$` matched before a final newline -------------------------------------------------------

NEWLINE_NAMES = {
    "spec-id": (['{"command":"true","id":"abc\\n"}'], "id"),
    "spec-id-cr": (['{"command":"true","id":"abc\\r"}'], "id"),
    "spec-queue": (['{"command":"true","queue":"default\\n"}'], "queue"),
    "option-id": (['{"command":"true"}', "--id", "abc\n"], "id"),
    "option-queue": (['{"command":"true"}', "--queue", "default\n"], "queue"),
}


@pytest.mark.before_store
@pytest.mark.parametrize(("args", "fragment"), NEWLINE_NAMES.values(), ids=NEWLINE_NAMES.keys())
def test_a_trailing_newline_in_an_id_or_queue_is_rejected(
    run: Run, seeded: Unchanged, args: list[str], fragment: str
) -> None:
    message = run("enqueue", *args).error(fragment, code=1)
    assert "\\n" in message or "\\r" in message  # the bad character is shown, escaped
    seeded()


def test_a_trailing_newline_in_a_file_id_is_rejected(
    run: Run, seeded: Unchanged, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([{"command": "true", "id": "ok"}, {"command": "x", "id": "b\n"}]))
    run("enqueue", "--file", str(path)).error("item 1", "id", code=1)
    seeded()


def test_update_with_a_trailing_newline_in_the_id_is_rejected(run: Run, seeded: Unchanged) -> None:
    run("update", '{"id":"existing\\n","priority":3}').error("invalid job id", code=1)
    seeded()


def test_a_trailing_newline_in_a_duration_is_still_whitespace(run: Run) -> None:
    # `purge --older-than` takes blanks around the number on purpose: not the `$` bug.
    run("purge", "--state", "completed", "--older-than", "7d\n").ok()


# -- tracebacks: bytes that are not UTF-8, JSON nested too deep --------------------------------


@pytest.mark.parametrize("source", ["file", "stdin"])
@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe{}", b'{"command":"true"}\n{"command":"echo \xc3"}\n', b"\xed\xa0\x80"],
    ids=["bom-16", "cut-sequence-line-2", "surrogate"],
)
def test_a_file_that_is_not_utf8_is_one_error_line(
    run: Run, seeded: Unchanged, tmp_path: Path, source: str, data: bytes
) -> None:
    if source == "file":
        path = tmp_path / "jobs.jsonl"
        path.write_bytes(data)
        result = run("enqueue", "--file", str(path))
    else:
        result = run("enqueue", "--file", "-", input=data)
    message = result.error("not valid UTF-8", code=1)
    if b"\n{" in data:
        assert "line 2" in message
    seeded()


def test_a_utf8_bom_is_allowed(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id":"bom","command":"true"}\n')
    run("enqueue", "--file", str(path)).ok()
    assert run("show", "bom", "--json").ok().json()["id"] == "bom"


DEEP = "[" * 50_000
DEEP_FIELD = '{"command":"true","x":' + "[" * 50_000 + "]" * 50_000 + "}"


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", DEEP],
        ["enqueue", DEEP_FIELD],
        ["update", DEEP],
        ["update", '{"id":"existing","priority":' + DEEP + "}"],
        ["config", "set", "max-retries", DEEP],
    ],
    ids=["enqueue", "enqueue-field", "update", "update-field", "config-set"],
)
def test_json_nested_too_deep_is_one_error_line(
    run: Run, seeded: Unchanged, args: list[str]
) -> None:
    run(*args).error(code=1)
    seeded()


@pytest.mark.parametrize("text", [DEEP, DEEP_FIELD + "\n", "[" + DEEP_FIELD + "]"])
def test_a_file_nested_too_deep_is_one_error_line(
    run: Run, seeded: Unchanged, tmp_path: Path, text: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    run("enqueue", "--file", str(path)).error(code=1)
    run("enqueue", "--file", "-", input=text).error(code=1)
    seeded()


# -- every error is one line, whatever it quotes ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["enqueue", '{"command":"x","a\\nb":1}'], "a\\nb"),
        (["enqueue", '{"command":"x","a\\u2028b":1}'], "a\\u2028b"),
        (["enqueue", '{"command":"x","a\\rb\\u001b[2J":1}'], "a\\rb\\x1b[2J"),
        (["show", "line1\nline2"], "line2"),
        (["config", "set", "max\nretries", "2"], "retries"),
        (["config", "set", "max-retries", "1\x0b2"], "2"),
        (["list", "--state", "a\nb"], "--state"),
        (["enqueue", "--file", "no\nsuch\x85file"], "file"),
    ],
    ids=[
        "newline",
        "line-separator",
        "cr-escape",
        "show",
        "config-key",
        "config-value",
        "usage",
        "file-name",
    ],
)
def test_an_error_quoting_control_characters_stays_on_one_line(
    run: Run, seeded: Unchanged, args: list[str], shown: str
) -> None:
    message = run(*args).error(shown)
    assert all(ch.isprintable() for ch in message), repr(message)
    seeded()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain é ✓", "plain é ✓"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\x85b\u2028c\u2029d", "a\\x85b\\u2028c\\u2029d"),
        ("bad \udcff byte", "bad \\udcff byte"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_one_line_escapes_what_would_break_the_line(text: str, expected: str) -> None:
    from queuectl.cli import one_line

    assert one_line(text) == expected
    assert len(one_line(text).splitlines()) == 1


# -- a run time no backend can store: rejected, never stored -----------------------------------


@pytest.mark.before_store
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (['{"command":"true","delay":1e300}'], "delay"),
        (['{"command":"true"}', "--delay", "99999999999"], "delay"),
        (['{"command":"true","run_at":"9999-12-31T23:59:59-14:00"}'], "run_at"),
        (['{"command":"true"}', "--run-at", "9999-12-31T23:59:59-14:00"], "--run-at"),
        (['{"command":"true"}', "--run-at", "1969-12-31T23:59:59Z"], "1970-9999"),
        (['{"command":"true","run_at":"1969-12-31T23:59:59Z"}'], "run_at"),
    ],
    ids=[
        "delay-1e300",
        "option-delay-3000-years",
        "run-at-year-10000",
        "option-run-at-year-10000",
        "option-run-at-before-1970",
        "run-at-before-1970",
    ],
)
def test_unrepresentable_run_time_is_rejected(
    run: Run, seeded: Unchanged, args: list[str], fragment: str
) -> None:
    # A bad option value is a usage error (2); a bad spec field, invalid input (1).
    option = "--delay" in args or "--run-at" in args
    run("enqueue", *args).error(fragment, code=2 if option else 1)
    seeded()
    run("list", "--json").ok()


# -- a command longer than the kernel takes for one argument ---------------------------------


@pytest.mark.not_fast  # a real worker process
def test_the_longest_command_the_kernel_accepts_is_enqueued_and_runs(run: Run, db: str) -> None:
    from queuectl.spec import MAX_COMMAND_BYTES

    command = "echo ran #" + "x" * (MAX_COMMAND_BYTES - 10)
    assert len(command.encode()) == MAX_COMMAND_BYTES
    run("enqueue", json.dumps({"id": "long", "command": command})).ok()
    assert run("show", "long", "--json").ok().json()["command"] == command
    # and a real worker can start it: the limit is the kernel's, not a guess
    worker = [sys.executable, "-m", "queuectl", "--db", db, "worker", "start", "--burst"]
    subprocess.run(worker, check=True, capture_output=True, timeout=60)
    shown = run("show", "long", "--json").ok().json()
    assert shown["state"] == "completed", shown["attempt_log"]
    assert shown["attempt_log"][-1]["stdout"] == "ran\n"


@pytest.mark.parametrize(
    "command",
    ["true " + "x" * (128 * 1024 - 5), "true " + "é" * (64 * 1024)],
    ids=["ascii-128KiB", "two-byte-chars"],
)
def test_a_command_longer_than_one_exec_argument_is_rejected(
    run: Run, seeded: Unchanged, tmp_path: Path, command: str
) -> None:
    message = run("enqueue", json.dumps({"command": command})).error("command", code=1)
    assert "131071" in message and "MAX_ARG_STRLEN" in message
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"command": "true"}) + "\n" + json.dumps({"command": command}))
    run("enqueue", "--file", str(path)).error("line 2", "MAX_ARG_STRLEN", code=1)
    seeded()


@pytest.mark.before_store
@pytest.mark.parametrize("name", ["default\n", "a b", "", "-x"])
@pytest.mark.parametrize("detach", [False, True])
def test_a_worker_for_a_queue_no_job_can_have_is_refused(
    run: Run, seeded: Unchanged, name: str, detach: bool
) -> None:
    args = ["worker", "start", "--burst", "--queue", "default", "--queue", name]
    run(*args, *(["--detach"] if detach else [])).error("--queue", code=2)
    seeded()


# -- terminal escapes ------------------------------------------------------------------------


@pytest.mark.not_fast  # a real worker process
def test_terminal_escapes_in_a_job_are_shown_escaped_never_sent_raw(run: Run, db: str) -> None:
    """Anyone who can enqueue (over HTTP too) could otherwise recolour, clear or retitle
    the operator's terminal through `list` and `show`."""
    command = "echo \x1b[2J\x1b]0;pwned\x07 done"
    # The shell runs `pwned...` after the `;` and fails (127): no retry backoff to wait out.
    spec = {"id": "esc", "command": command, "env": {"X": "\x1b[31m"}, "max_retries": 0}
    run("enqueue", json.dumps(spec)).ok()
    for args in (["list"], ["show", "esc"], ["list", "--state", "pending"]):
        out = run(*args).ok().stdout
        assert "\x1b" not in out and "\x07" not in out, args
        assert "\\x1b[2J" in out, args
    worker = [sys.executable, "-m", "queuectl", "--db", db, "worker", "start", "--burst"]
    subprocess.run(worker, check=True, capture_output=True, timeout=60)
    shown = run("show", "esc").ok().stdout
    assert "\x1b" not in shown and "\\x1b[2J" in shown  # the output's tail too
    assert run("logs", "esc").ok().stdout.startswith("\x1b[2J")  # `logs` is the raw output
