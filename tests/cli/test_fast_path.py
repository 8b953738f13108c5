"""The Click-free fast path (queuectl.cli.fast) for `enqueue` (a SPEC, or `-- CMD` with its
common options), `list`, `show`, `logs` and `status`: each command line below is run once
each way, and both give the same stdout, stderr and exit code, errors included, and store
the same jobs. Command lines the fast path does not know go to Click whole."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from queuectl.cli import fast
from queuectl.cli.app import cli
from tests.cli.conftest import Put, Result, Run

ENQUEUE_CASES: list[tuple[str, ...]] = [
    ("enqueue", '{"id":"a1","command":"echo hi"}'),
    ("enqueue", '{"id":"a1","command":"echo again"}'),  # duplicate of the first
    ("enqueue", '{"id":"p1","command":"true","priority":5,"queue":"q1","delay":3600}'),
    ("enqueue", '{"command":""}'),
    ("enqueue", "not json"),
    ("enqueue", "[1, 2]"),
    ("enqueue", '{"id":"bad id!","command":"true"}'),
    ("enqueue", '{"id":"u1","command":"true","colour":"red"}'),
    ("enqueue", '{"id":"n1","command":"true","max_retries":-1}'),
    ("enqueue", ""),
    ("enqueue", '{"id":"s1","command":"echo \udcff"}'),
    ("enqueue", "--db"),  # not a fast form: both ways end in Click
    ("enqueue", "--id", "c1", "--", "make", "test"),
    ("enqueue", "--id", "c2", "--", "make && make test"),
    ("enqueue", "--id", "c3", "--queue", "ci", "--priority", "5", "--delay", "1m", "--", "x"),
    ("enqueue", "--id=c4", "--queue=ci", "--priority=-5", "--timeout", "1h30m", "--", "x"),
    ("enqueue", "--id", "c5", "--max-retries", "0", "--run-at", "2031-05-06T20:00", "--", "x"),
    ("enqueue", "--id", "c6", "--env", "A=1", "--env", "B", "--cwd", "sub", "--json", "--", "x"),
    ("enqueue", "--id", "c7", "--env-all", "--", "env"),
    ("enqueue", "--id", "c8", '{"command":"true","queue":"spec"}', "--queue", "opt"),
    ("enqueue", "--id", "c1", "--", "true"),  # a duplicate id
    ("enqueue", "--id", "bad id!", "--", "true"),
    ("enqueue", "--id", "e1", "--priority", "high", "--", "true"),
    ("enqueue", "--id", "e2", "--run-at", "someday", "--", "true"),
    ("enqueue", "--id", "e3", "--delay", "5x", "--", "true"),
    ("enqueue", "--id", "e4", "--max-retries", "-1", "--", "true"),
    ("enqueue", "--id", "e5", "--env", "=x", "--", "true"),
    ("enqueue", "--id", "e6", "--env", "NOT_SET_ANYWHERE", "--", "true"),
    ("enqueue", "--id", "e7", "--run-at", "now", "--delay", "1m", "--", "true"),
    ("enqueue", "--id", "e8", "--"),
    ("enqueue", "--id", "e9", '{"command":"true"}', "--", "true"),
    ("enqueue", "--id", "e10", "--queue", "--", "true"),
    ("enqueue", "--id", "e11", "--bogus", "--", "true"),
    ("enqueue", "--id", "e12", "--json=yes", "--", "true"),
    ("enqueue", "--id", "e13", "--file", "-", "--", "true"),
    ("enqueue", "--id", "e14", "--timeout", "-1", "--", "true"),
    ("enqueue", "--id", "e15", "--", "echo \udcff"),  # an undecodable byte
    ("enqueue",),
    ("enqueue", "--help"),
]

READ_CASES: list[tuple[str, ...]] = [
    ("list",),
    ("list", "--json"),
    ("list", "--wide"),
    ("list", "-w", "--oldest", "--limit", "2"),
    ("list", "--state", "failed,completed", "--state", "pending"),
    ("list", "--state=scheduled"),
    ("list", "--queue", "q-other", "--search", "echo", "--id-prefix", "d"),
    ("list", "--limit", "0", "--json"),
    ("list", "--state", "bogus"),
    ("list", "--limit", "-1"),
    ("list", "--limit", "many"),
    ("list", "extra"),
    ("list", "--search", "\udcff"),
    ("list", "--json", "--watch", "1"),
    ("show", "done1"),
    ("show", "done1", "--json"),
    ("show", "--json", "--last"),
    ("show", "missing"),
    ("show",),
    ("show", "done1", "--last"),
    ("show", "done1", "other"),
    ("show", "\udcff"),
    ("logs", "done1"),
    ("logs", "done1", "--tail", "1"),
    ("logs", "--attempt", "1", "done1", "--json"),
    ("logs", "done1", "--attempt", "9"),
    ("logs", "fail1", "--json", "--tail", "0"),
    ("logs", "wait1"),
    ("logs", "run1"),
    ("logs", "done1", "--tail", "-1"),
    ("logs", "done1", "-f", "--json"),
    ("logs",),
    ("status",),
    ("status", "--json"),
    ("status", "--queue", "q-other", "--json", "--json"),
    ("status", "--watch", "1", "--json"),
    ("--db", "nowhere/missing.db", "list"),
    ("show", "done1", "--db=nowhere/missing.db"),
    ("--db", "postgresql://postgres@127.0.0.1:1/none", "list"),  # nothing listens there
    ("logs", "done1", "--db", "redis://127.0.0.1:1/0"),
    ("enqueue", "--db", "nowhere/missing.db", "--", "true"),
]

# What differs from one run to the next: spans from now, a queue's waiting time, and the
# table padding a span's width moves.
_SPAN = re.compile(r"\b(?:now|in \d+[smhd](?: \d+[smh])?|\d+[smhd](?: \d+[smh])? ago)\b")
_AGE = re.compile(r'"oldest_pending_age": [0-9.e+-]+')


def timeless(text: str) -> str:
    text = _AGE.sub('"oldest_pending_age": "age"', _SPAN.sub("SPAN", text))
    return re.sub(r" {2,}", "  ", text)


def _by_click(run: Run, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], db: str) -> Result:
    with monkeypatch.context() as patch:
        patch.setattr(fast, "parse", lambda argv: None)
        return run(*args, env={"QUEUECTL_DB": db})


def _same(fast_result: Result, click_result: Result, args: tuple[str, ...]) -> None:
    assert fast_result.exception is None, fast_result.stderr
    got = (fast_result.exit_code, timeless(fast_result.stdout), fast_result.stderr)
    wanted = (click_result.exit_code, timeless(click_result.stdout), click_result.stderr)
    assert got == wanted, args


def _stored(run: Run, db: str) -> list[dict[str, Any]]:
    """The stored jobs as `list --json` shows them, without the times of their making."""
    jobs = run("list", "--json", "--oldest", "--limit", "0", env={"QUEUECTL_DB": db}).ok().json()
    moments = {"run_at", "created_at", "updated_at"}
    for job in jobs:
        (job["env"] or {}).pop("QUEUECTL_DB", None)  # --env-all's copy names the database
    return [{k: v for k, v in job.items() if k not in moments} for job in jobs]


def test_enqueue_both_ways_prints_and_stores_the_same(
    run: Run, db: str, twin: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"B": "from-shell"}
    for args in ENQUEUE_CASES:
        fast_result = run(*args, env={"QUEUECTL_DB": db, **env})
        with monkeypatch.context() as patch:
            patch.setattr(fast, "parse", lambda argv: None)
            click_result = run(*args, env={"QUEUECTL_DB": twin, **env})
        _same(fast_result, click_result, args)
    assert _stored(run, db) == _stored(run, twin)
    ids = [job["id"] for job in _stored(run, db)]
    assert ids == ["a1", "p1", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]


def test_list_show_logs_and_status_both_ways_print_the_same(
    run: Run, db: str, put: Put, monkeypatch: pytest.MonkeyPatch
) -> None:
    put("done1", "completed", command="echo one", stdout=b"a\nb\n", stderr=b"warn\n")
    put("fail1", "failed", command="false", stderr=b"\x1b[31mno\n", queue="q-other")
    put("run1", "processing", command="sleep 9")
    run("enqueue", "--id", "wait1", "--delay", "2h", "--", "echo later").ok()
    run("enqueue", "--id", "d2", "--", "echo two").ok()
    for args in READ_CASES:
        _same(run(*args), _by_click(run, monkeypatch, args, db), args)


@pytest.mark.sqlite_only
def test_ctrl_c_is_reported_the_same_both_ways(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a command reads the database: Click's blank line and `aborted`."""
    from queuectl.cli import reading

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(reading, "print_status", interrupted)
    fast_result = run("status")
    assert (fast_result.exit_code, fast_result.stderr) == (130, "\nerror: aborted\n")
    _same(fast_result, _by_click(run, monkeypatch, ("status",), db), ("status",))


@pytest.mark.sqlite_only  # SQLite files, read back row by row
def test_db_option_before_and_after_the_command(run: Run, tmp_path: Path) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    run("--db", str(first), "enqueue", '{"id":"x1","command":"true"}').ok()
    run("enqueue", '{"id":"x2","command":"true"}', f"--db={second}").ok()
    run("--db", str(first), "enqueue", "--db", str(second), '{"id":"x3","command":"true"}').ok()
    run("--db", str(first), "enqueue", "--db", str(second), "--", "echo", "x4").ok()
    assert [job["id"] for job in _stored(run, str(first))] == ["x1"]
    assert [job["command"] for job in _stored(run, str(second))][:2] == ["true", "true"]
    assert len(_stored(run, str(second))) == 3
    status = run("status", "--json", "--db", str(second)).ok().json()
    assert status["jobs"]["pending"] == 3


@pytest.mark.before_store
@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "--queue", "ci", "--", "make", "test"],
        ["enqueue", "--db", "x.db", '{"command":"true"}'],
        ["--db", "x.db", "list", "--state", "failed,dead", "-w", "--limit=5"],
        ["show", "--last", "--json"],
        ["logs", "job1", "--tail", "3"],
        ["status", "--queue", "ci"],
    ],
)
def test_the_everyday_forms_take_the_fast_path(args: list[str]) -> None:
    assert fast.parse(args) is not None


@pytest.mark.before_store
@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "--file", "jobs.jsonl"],
        ["enqueue", "--after", "job1", "--", "true"],  # an option added later: Click's
        ["list", "--watch"],
        ["logs", "job1", "-f"],
        ["status", "--watch"],
        ["show", "--help"],
        ["list", "--", "x"],
        ["cancel", "job1"],
        ["--version"],
    ],
)
def test_other_command_lines_go_to_click_whole(args: list[str]) -> None:
    assert fast.parse(args) is None


@pytest.mark.before_store
def test_shell_completion_goes_to_click(run: Run) -> None:
    env = {"_QUEUECTL_COMPLETE": "bash_complete", "COMP_WORDS": "queuectl list --st"}
    env["COMP_CWORD"] = "2"
    assert "--state" in run("list", env=env).ok().stdout


@pytest.mark.before_store
def test_the_fast_options_are_the_click_commands_own() -> None:
    """Each option the fast path reads is the Click command's, of the same kind: a flag,
    a repeatable option, or one that takes a value."""
    ctx = click.Context(cli)
    for name, options in fast.OPTIONS.items():
        command = cli.get_command(ctx, name)
        assert command is not None
        params = {opt: p for p in command.params for opt in p.opts if isinstance(p, click.Option)}
        for spelling, (_, kind) in options.items():
            param = params[spelling]
            found = fast.FLAG if param.is_flag else fast.MANY if param.multiple else fast.VALUE
            assert found == kind, (name, spelling)
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        assert len(arguments) == fast.ARGUMENTS[name], name


def test_the_fast_commands_import_no_more_than_they_use(tmp_path: Path) -> None:
    """No Click; no platformdirs for the default database on Linux; no typing_extensions
    (msgspec would import it when installed, as it is here)."""
    unused = ["click", "queuectl.cli.app", "platformdirs", "typing_extensions"]
    code = (
        "import sys\n"
        "from queuectl.cli import main\n"
        "main(sys.argv[1:])\n"
        f"print([m for m in {unused!r} if m in sys.modules])\n"
    )
    env = {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # where enqueue remembers its job
        "PATH": "/usr/bin:/bin",
    }
    for args in (
        ["enqueue", '{"id":"c1","command":"true"}'],
        ["enqueue", "--queue", "ci", "--priority", "5", "--", "make", "test"],
        ["status", "--json"],
        ["list"],
        ["show", "--last"],
        ["logs", "c1", "--json"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
        )
        assert done.stdout.splitlines()[-1] == "[]", (args, done.stdout)
