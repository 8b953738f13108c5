"""The fork server (queuectl/forkserver.py, queuectl/launcher.py): the installed `queuectl`
hands `enqueue`, `status`, `list`, `show` and `logs` to a process that has done their
imports, which runs each in a child with the caller's arguments, streams, directory,
environment and umask. Each command below runs once through the server and once in a
process of its own (QUEUECTL_FORKSERVER=0): both print, exit and store the same, and the
server's own count proves the first went through it."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl.store import ahead
from tests.cli.conftest import Put, Run
from tests.cli.test_fast_path import ENQUEUE_CASES, READ_CASES, timeless

QUEUECTL = Path(sys.executable).with_name("queuectl")
PATIENCE_S = 60.0


def _until(check: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + PATIENCE_S
    while not check():
        assert time.monotonic() < give_up, f"still waiting for {what}"
        time.sleep(0.02)


class Commands:
    """`queuectl` as a user's shell runs it, with the fork server on (in a runtime
    directory of this test's) or off."""

    def __init__(self, runtime: Path, env: dict[str, str]) -> None:
        self.runtime = runtime
        self.env = {**env, "XDG_RUNTIME_DIR": str(runtime)}
        self.env.pop("QUEUECTL_FORKSERVER", None)

    def __call__(
        self, *args: str, forkserver: bool = True, cwd: Path | None = None, **extra: Any
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra.pop("env", {})}
        if not forkserver:
            env["QUEUECTL_FORKSERVER"] = "0"
        return subprocess.run(
            [str(QUEUECTL), *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=PATIENCE_S,
            check=False,
            **extra,
        )

    def state(self) -> dict[str, Any]:
        done = self("forkserver", "status", "--json")
        assert done.returncode == 0, done.stderr
        state: dict[str, Any] = json.loads(done.stdout)
        return state

    def served(self) -> int:
        return int(self.state().get("commands", 0))

    def sockets(self) -> list[Path]:
        return sorted((self.runtime / "queuectl").glob("*.sock"))


@pytest.fixture
def commands() -> Iterator[Commands]:
    """A runtime directory of the test's own, short enough for a socket's path (made
    with mode 0700, as XDG_RUNTIME_DIR is)."""
    runtime = Path(tempfile.mkdtemp(prefix="qf-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run = Commands(runtime, env)
    yield run
    status = run("forkserver", "status", "--json")  # (exit 1 where no server may run)
    if status.returncode == 0:  # a failed test's commands would keep the server waiting
        for pid in json.loads(status.stdout).get("commands_running", []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    run("forkserver", "stop")
    shutil.rmtree(runtime, ignore_errors=True)


def _same(
    through: subprocess.CompletedProcess[str], alone: subprocess.CompletedProcess[str]
) -> None:
    got = (through.returncode, timeless(through.stdout), through.stderr)
    wanted = (alone.returncode, timeless(alone.stdout), alone.stderr)
    assert got == wanted, through.args


def _started(commands: Commands) -> None:
    done = commands("forkserver", "start")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("running: pid ")


def _follow(commands: Commands, tmp_path: Path, **popen: Any) -> tuple[subprocess.Popen[str], int]:
    """`queuectl logs --follow` of a job no worker runs, through the server: the caller's
    process and the command's pid, once the command runs."""
    env = {**commands.env, "QUEUECTL_DB": str(tmp_path / "q.db")}
    job = commands("enqueue", "--", "true", env=env).stdout.strip()
    _started(commands)
    follow = subprocess.Popen(
        [str(QUEUECTL), "logs", "--follow", job],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    _until(lambda: len(commands.state()["commands_running"]) == 1, "the command to run")
    return follow, commands.state()["commands_running"][0]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _stored(commands: Commands, db: str) -> list[dict[str, Any]]:
    done = commands(
        "list", "--json", "--oldest", "--limit", "0", forkserver=False, env={"QUEUECTL_DB": db}
    )
    assert done.returncode == 0, done.stderr
    moments = {"run_at", "created_at", "updated_at"}
    jobs = json.loads(done.stdout)
    for job in jobs:  # --env-all's copies name the database and the switch
        for name in ("QUEUECTL_DB", "QUEUECTL_FORKSERVER"):
            (job["env"] or {}).pop(name, None)
    return [{k: v for k, v in job.items() if k not in moments} for job in jobs]


@pytest.mark.not_fast  # dozens of commands, each run twice
def test_enqueue_through_the_server_prints_and_stores_the_same(
    commands: Commands, db: str, twin: str, tmp_path: Path, backend: str
) -> None:
    _started(commands)
    before = commands.served()
    extra = {"B": "from-shell"}
    cases = _cases(ENQUEUE_CASES, backend)
    for args in cases:
        through = commands(*args, cwd=tmp_path, env={"QUEUECTL_DB": db, **extra})
        alone = commands(*args, cwd=tmp_path, forkserver=False, env={"QUEUECTL_DB": twin, **extra})
        _same(through, alone)
    assert commands.served() == before + len(cases)
    assert _stored(commands, db) == _stored(commands, twin)
    assert len(_stored(commands, db)) == (10 if backend == "sqlite" else 4)


@pytest.mark.not_fast  # dozens of commands, each run twice
def test_reads_through_the_server_print_the_same(
    commands: Commands, db: str, put: Put, backend: str
) -> None:
    put("done1", "completed", command="echo one", stdout=b"a\nb\n", stderr=b"warn\n")
    put("fail1", "failed", command="false", stderr=b"\x1b[31mno\n", queue="q-other")
    put("run1", "processing", command="sleep 9")
    env = {"QUEUECTL_DB": db}
    later = ("enqueue", "--id", "wait1", "--delay", "2h", "--", "echo later")
    assert commands(*later, forkserver=False, env=env).returncode == 0
    _started(commands)
    before = commands.served()
    cases = _cases(READ_CASES, backend)
    for args in cases:
        _same(commands(*args, env=env), commands(*args, forkserver=False, env=env))
    assert commands.served() == before + len(cases)


@pytest.mark.not_fast  # several commands through a server
def test_later_commands_take_the_store_the_spare_opened_ahead(
    commands: Commands, db: str, twin: str, backend: str
) -> None:
    """The spare opens the last command's store while it waits (store/ahead.py); a
    command for another database opens its own, and stores its job there."""
    env = {"QUEUECTL_DB": db, ahead.AGE_VAR: "60"}  # time enough on any machine
    _started(commands)
    ids = [f"a{n}" for n in range(1, 5)]
    for job in ids:
        done = commands("enqueue", "--id", job, "--", "true", env=env)
        assert (done.returncode, done.stdout) == (0, f"{job}\n"), done.stderr
    # The first command found no hint; from the third on, the spare had opened the store.
    if backend == "sqlite":  # opens in no time: nothing is opened ahead
        assert commands.state()["stores_opened_ahead_taken"] == 0
    else:
        taken = lambda: commands.state()["stores_opened_ahead_taken"] >= 2  # noqa: E731
        _until(taken, "the third and fourth commands' reports")
        said = commands("forkserver", "status").stdout
        assert " commands run (" in said and " on a store opened ahead)" in said, said
    done = commands("enqueue", "--id", "t1", "--", "true", env={**env, "QUEUECTL_DB": twin})
    assert (done.returncode, done.stdout) == (0, "t1\n"), done.stderr
    assert [job["id"] for job in _stored(commands, twin)] == ["t1"]
    assert sorted(job["id"] for job in _stored(commands, db)) == ids


@pytest.mark.postgres
@pytest.mark.not_fast  # waits for the spare's time to pass
def test_the_spare_lets_its_connection_go_in_time(commands: Commands, tmp_path: Path) -> None:
    """A spare holds its store's connection QUEUECTL_FORKSERVER_AHEAD seconds at most
    (DROP DATABASE waits only 5 s for other sessions to leave)."""
    import psycopg

    from tests.conftest import postgres_database
    from tests.pg_helpers import other_sessions

    def others() -> int:
        with psycopg.connect(url, autocommit=True) as admin:
            return other_sessions(admin)

    with postgres_database(tmp_path) as url:
        env = {"QUEUECTL_DB": url, ahead.AGE_VAR: "2"}
        _started(commands)
        for _ in range(3):
            assert commands("status", env=env).returncode == 0
        _until(lambda: others() == 1, "the spare to open the store ahead")
        _until(lambda: others() == 0, "the spare to close it")
        assert commands.state()["commands_running"] == []

        # A command on another database ends it too: the next spares open nothing there.
        env[ahead.AGE_VAR] = "60"
        assert commands("status", env=env).returncode == 0
        _until(lambda: others() == 1, "the spare to open the store ahead")
        sqlite = {"QUEUECTL_DB": str(tmp_path / "q.db"), ahead.AGE_VAR: "60"}
        assert commands("enqueue", "--", "true", env=sqlite).returncode == 0
        give_up = time.monotonic() + 30  # (the spare would hold it 60 s)
        while others() != 0:
            assert time.monotonic() < give_up, "a spare still holds the old database"
            time.sleep(0.05)


def _cases(cases: list[tuple[str, ...]], backend: str) -> list[tuple[str, ...]]:
    """Every case on SQLite; every third on PostgreSQL and Redis, where a command in a
    process of its own takes a quarter of a second (the backend changes no path here)."""
    return cases if backend == "sqlite" else cases[::3]


@pytest.mark.sqlite_only
def test_the_command_has_the_callers_directory_environment_umask_and_stdin(
    commands: Commands, tmp_path: Path, run: Run
) -> None:
    _started(commands)
    here = tmp_path / "here"
    here.mkdir()
    db = here / "new.db"
    env = {"QUEUECTL_DB": str(db), "ONLY_HERE": "yes"}
    done = commands(
        "enqueue", "--id", "e1", "--env-all", "--", "pwd", cwd=here, env=env, umask=0o077
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "e1\n", "")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600  # made under the caller's umask
    lines = '{"id": "f1", "command": "true"}\n{"id": "f2", "command": "true"}\n'
    done = commands("enqueue", "--file", "-", cwd=here, env=env, input=lines)
    assert done.returncode == 0, done.stderr
    assert commands.served() == 2
    jobs = {
        job["id"]: job for job in run("list", "--json", env={"QUEUECTL_DB": str(db)}).ok().json()
    }
    assert sorted(jobs) == ["e1", "f1", "f2"]
    assert jobs["e1"]["cwd"] == str(here)
    assert jobs["e1"]["env"]["ONLY_HERE"] == "yes"


@pytest.mark.sqlite_only
@pytest.mark.not_fast  # waits for commands to start and end
@pytest.mark.parametrize(
    ("sent", "to", "ends"),
    [
        (signal.SIGINT, "caller", 130),  # forwarded: Ctrl-C reaches the command
        (signal.SIGKILL, "command", -signal.SIGKILL),  # the caller ends as it did
        (signal.SIGKILL, "caller", -signal.SIGKILL),  # the command goes with its caller
    ],
)
def test_signals_and_ends_pass_between_caller_and_command(
    commands: Commands, tmp_path: Path, sent: signal.Signals, to: str, ends: int
) -> None:
    follow, command = _follow(commands, tmp_path)
    os.kill(follow.pid if to == "caller" else command, sent)
    _, err = follow.communicate(timeout=PATIENCE_S)
    assert follow.returncode == ends, err
    if sent == signal.SIGINT:
        assert err == "\nerror: aborted\n"  # as Click reports Ctrl-C
    _until(lambda: not commands.state()["commands_running"], "the command to end")
    assert not _alive(command)


@pytest.mark.sqlite_only
@pytest.mark.not_fast  # waits a second of idleness
def test_the_first_command_starts_the_server_and_an_idle_one_ends(
    commands: Commands, tmp_path: Path
) -> None:
    env = {"QUEUECTL_DB": str(tmp_path / "q.db"), "QUEUECTL_FORKSERVER_IDLE": "1"}
    assert commands("enqueue", "--", "true", env=env).returncode == 0  # in its own process
    _until(lambda: bool(commands.sockets()), "the server to listen")
    done = commands("status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jobs"]["pending"] == 1
    _until(lambda: not commands.sockets(), "the idle server to end")
    assert commands.state() == {"running": False}


@pytest.mark.sqlite_only
def test_off_means_no_server(commands: Commands, tmp_path: Path) -> None:
    env = {"QUEUECTL_DB": str(tmp_path / "q.db"), "QUEUECTL_FORKSERVER": "off"}
    for _ in range(2):
        assert commands("enqueue", "--", "true", env=env).returncode == 0
    assert not (commands.runtime / "queuectl").exists()


@pytest.mark.sqlite_only
def test_a_directory_others_can_enter_is_not_used(commands: Commands, tmp_path: Path) -> None:
    (commands.runtime / "queuectl").mkdir(mode=0o755)
    os.chmod(commands.runtime / "queuectl", 0o755)
    env = {"QUEUECTL_DB": str(tmp_path / "q.db")}
    for _ in range(2):
        assert commands("enqueue", "--", "true", env=env).returncode == 0
    assert list((commands.runtime / "queuectl").iterdir()) == []
    done = commands("forkserver", "start")
    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot use {commands.runtime}/queuectl for the fork server: it must be a"
        " directory of this user's that others cannot enter, and a path of at most 85 bytes\n"
    )


@pytest.mark.sqlite_only
def test_a_runtime_path_too_long_for_a_socket_is_not_used(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    deep.mkdir(mode=0o700)
    commands = Commands(deep, {**os.environ})
    env = {"QUEUECTL_DB": str(tmp_path / "q.db")}
    for _ in range(2):
        assert commands("enqueue", "--", "true", env=env).returncode == 0
    assert not (deep / "queuectl").exists()
    done = commands("forkserver", "start")
    assert (done.returncode, done.stderr.count("\n")) == (1, 1)
    assert "a path of at most 85 bytes" in done.stderr


@pytest.mark.sqlite_only
@pytest.mark.not_fast  # copies the package, starts two servers
def test_a_changed_file_retires_the_server(commands: Commands, tmp_path: Path) -> None:
    """An upgrade or an edit of queuectl: the old server stops taking commands at once
    and ends, and a new one starts (here: `python -m queuectl` from a copy of the
    package, whose files this test may touch)."""
    copy = tmp_path / "copy"
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "queuectl",
        copy / "queuectl",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {**commands.env, "QUEUECTL_DB": str(tmp_path / "q.db")}

    def queuectl(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "queuectl", *args]
        return subprocess.run(
            command, env=env, cwd=copy, capture_output=True, text=True, check=False
        )

    assert queuectl("forkserver", "start").returncode == 0
    first = json.loads(queuectl("forkserver", "status", "--json").stdout)
    assert queuectl("enqueue", "--", "true").returncode == 0
    assert json.loads(queuectl("forkserver", "status", "--json").stdout)["commands"] == 1
    changed = copy / "queuectl" / "cli" / "reading.py"
    changed.write_text(changed.read_text() + "\n")
    _until(lambda: not _alive(first["pid"]), "the old server to end")  # told by inotify
    done = queuectl("status", "--json")  # in its own process, with the new file
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jobs"]["pending"] == 1
    assert queuectl("forkserver", "start").returncode == 0
    second = json.loads(queuectl("forkserver", "status", "--json").stdout)
    assert second["pid"] != first["pid"]
    assert second["commands"] == 0
    queuectl("forkserver", "stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.sqlite_only
@pytest.mark.not_fast  # a worker runs a job
def test_a_jobs_commands_run_in_its_own_process_tree(commands: Commands, tmp_path: Path) -> None:
    """A worker ends what a job started when the job ends, and accounts its processes to
    it: a job's `queuectl enqueue` neither uses the fork server nor starts one."""
    env = {"QUEUECTL_DB": str(tmp_path / "q.db")}
    _started(commands)
    inner = f"{QUEUECTL} enqueue --id inner -- true"
    outer = commands("enqueue", "--id", "outer", "--", inner, forkserver=False, env=env)
    assert outer.returncode == 0, outer.stderr
    done = commands("worker", "start", "--count", "1", "--burst", env=env)
    assert done.returncode == 0, done.stderr
    listed = commands("list", "--json", forkserver=False, env=env)
    states = {job["id"]: job["state"] for job in json.loads(listed.stdout)}
    assert states == {"outer": "completed", "inner": "completed"}
    assert commands.served() == 0


def test_the_job_token_is_the_workers() -> None:
    from queuectl import launcher, proctree

    assert launcher.JOB_TOKEN == proctree.TOKEN_VAR


@pytest.mark.parametrize("change", ["rewritten", "touched", "removed", "replaced", "linked"])
@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "looking"])
def test_a_server_knows_a_changed_file(tmp_path: Path, inotify: bool, change: str) -> None:
    """The server's own check, with inotify and (where there is none) by looking at each
    file: files of others are no change; each way of changing one of its own is."""
    from queuectl.forkserver import Server
    from queuectl.store.inotify import CHANGED, FileWatch

    files = [tmp_path / name for name in ("a.py", "b.py", "c.py")]
    for path in files:
        path.write_text("x = 1\n")
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "b.py"
    if change == "linked":  # imported through a symlink, changed where it leads
        files[1].rename(target)
        files[1].symlink_to(target)
    server = Server.__new__(Server)  # its file checks alone: no socket, no fork
    server.files = {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    server.watch = FileWatch(server.files, CHANGED) if inotify else None
    server.outdated = False
    (tmp_path / "other.py").write_text("y = 2\n")  # not one of its files
    assert not server.stale()
    changed = files[1]
    if change == "rewritten":
        changed.write_text("x = 22\n")
    elif change == "touched":
        os.utime(changed, ns=(0, changed.stat().st_mtime_ns + 10**9))
    elif change == "removed":
        changed.unlink()
    elif change == "linked":
        target.write_text("x = 22\n")
    else:  # as pip installs a file: written aside, then renamed over it
        (tmp_path / "b.py.new").write_text("x = 1\n")
        os.replace(tmp_path / "b.py.new", changed)
    assert server.stale()
    assert server.stale()  # it stays so


@pytest.mark.sqlite_only
@pytest.mark.not_fast  # waits for commands to start and end
def test_ignored_signals_stay_ignored_and_ctrl_z_stops_both(
    commands: Commands, tmp_path: Path
) -> None:
    """Under nohup a hang-up reaches neither; Ctrl-Z stops the command and its caller,
    `fg` resumes both; Ctrl-C still ends it."""

    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    # A job of its own, as a shell with job control starts it: its parent (this test) in
    # another process group of the same session, so the group is not orphaned and Ctrl-Z
    # stops it (an orphaned group discards SIGTSTP, with or without the server).
    follow, command = _follow(commands, tmp_path, preexec_fn=nohup, process_group=0)
    follow.send_signal(signal.SIGHUP)
    os.kill(command, signal.SIGHUP)  # the command ignores it as its caller does
    follow.send_signal(signal.SIGTSTP)
    _until(lambda: _state(command) == "T" and _state(follow.pid) == "T", "both to stop")
    follow.send_signal(signal.SIGCONT)
    _until(lambda: _state(command) != "T" and _state(follow.pid) != "T", "both to go on")
    assert follow.poll() is None and commands.state()["commands_running"] == [command]
    follow.send_signal(signal.SIGINT)
    _, err = follow.communicate(timeout=PATIENCE_S)
    assert (follow.returncode, err) == (130, "\nerror: aborted\n")


@pytest.mark.sqlite_only
@pytest.mark.not_fast  # waits for commands to start and end
def test_a_stopped_server_makes_way_while_its_commands_finish(
    commands: Commands, tmp_path: Path
) -> None:
    follow, command = _follow(commands, tmp_path)
    old = commands.state()["pid"]
    assert commands("forkserver", "stop").stdout == f"stopped: pid {old}\n"
    _started(commands)  # a new one, while the old one's command still runs
    assert commands.state()["pid"] != old
    assert _alive(old) and _alive(command)
    follow.send_signal(signal.SIGINT)
    assert follow.wait(timeout=PATIENCE_S) == 130
    _until(lambda: not _alive(old), "the old server to end")


@pytest.mark.sqlite_only
def test_the_server_keeps_nothing_of_the_caller_that_started_it(
    commands: Commands, tmp_path: Path
) -> None:
    """A pipe (or a lock) the first caller had open is not held for the server's life:
    `$(queuectl status)`-style readers see their end when the command ends."""
    read_end, write_end = os.pipe()
    started = subprocess.Popen(
        [str(QUEUECTL), "forkserver", "start"], env=commands.env, pass_fds=(write_end,)
    )
    os.close(write_end)
    assert started.wait(timeout=PATIENCE_S) == 0
    assert commands.state()["running"]
    _until(lambda: bool(select.select([read_end], [], [], 0)[0]), "the pipe's end")
    assert os.read(read_end, 1) == b""
    os.close(read_end)


@pytest.mark.sqlite_only
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
def test_a_caller_in_other_namespaces_runs_its_command_itself(
    commands: Commands, tmp_path: Path
) -> None:
    """A process of the same user in a sandbox (here a network namespace of its own)
    is not served: its command runs inside the sandbox."""
    env = {**commands.env, "QUEUECTL_DB": str(tmp_path / "q.db")}
    _started(commands)
    inside = subprocess.run(
        ["unshare", "--net", str(QUEUECTL), "enqueue", "--id", "boxed", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (inside.returncode, inside.stdout) == (0, "boxed\n"), inside.stderr
    assert commands.served() == 0
    assert commands("enqueue", "--id", "free", "--", "true", env=env).returncode == 0
    assert commands.served() == 1
