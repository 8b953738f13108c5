"""What a newcomer trips on first: help without arguments, `--db` anywhere, closed pipes,
`python -m queuectl.cli`, `-V`, did-you-mean, whole help lines, `config show`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Put, Run


@pytest.mark.before_store
@pytest.mark.parametrize("group", [(), ("worker",), ("dlq",), ("config",), ("db",)])
def test_a_group_without_a_command_prints_its_help(run: Run, group: tuple[str, ...]) -> None:
    done = run(*group)
    assert done.exit_code == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("Usage: queuectl")
    assert "\nCommands:\n" in done.stdout


def test_db_is_accepted_after_the_command_too(run: Run, tmp_path: Path) -> None:
    elsewhere = str(tmp_path / "other.db")
    assert run("enqueue", '{"id":"a","command":"true"}', "--db", elsewhere).exit_code == 0
    assert run("worker", "list", "--db", elsewhere).exit_code == 0
    listed = run("list", "--db", elsewhere, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert '"a"' in listed.stdout
    # ... and not in the database QUEUECTL_DB names
    assert '"a"' not in run("list", "--json").stdout


@pytest.mark.before_store
@pytest.mark.parametrize("command", [("list",), ("status",), ("worker", "start"), ("dlq", "list")])
def test_every_command_shows_db_in_its_help(run: Run, command: tuple[str, ...]) -> None:
    done = run(*command, "--help")
    assert done.exit_code == 0
    assert "--db URL" in done.stdout
    assert "QUEUECTL_DB" in done.stdout


@pytest.mark.before_store
def test_a_mistyped_command_gets_a_suggestion(run: Run) -> None:
    done = run("lsit")
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1
    assert "Did you mean 'list'?" in done.stderr


@pytest.mark.before_store
def test_top_level_help_does_not_cut_descriptions(run: Run) -> None:
    commands = run("--help").stdout.split("\nCommands:\n", 1)[1]
    assert "..." not in commands


@pytest.mark.before_store
def test_limit_help_is_readable_and_checked(run: Run) -> None:
    assert "2147483648" not in run("list", "--help").stdout
    done = run("list", "--limit", "-1")
    assert done.exit_code == 2
    assert done.stderr.startswith("error: ")


@pytest.mark.before_store
def test_version_short_flag(run: Run) -> None:
    done = run("-V")
    assert done.exit_code == 0
    assert done.stdout.startswith("queuectl, version ")


def test_config_show_lists_the_settings(run: Run) -> None:
    done = run("config", "show")
    assert done.exit_code == 0, done.stderr
    assert "max-retries = 3" in done.stdout


def _env(db: str) -> dict[str, str]:
    return {**os.environ, "QUEUECTL_DB": db}


def test_python_dash_m_queuectl_cli_works(db: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "queuectl.cli", "status", "--json"],
        check=False,
        capture_output=True,
        text=True,
        env=_env(db),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '"jobs"' in done.stdout


@pytest.mark.parametrize("args", [("status",), ("list",), ("status", "--json"), ("config", "list")])
def test_a_reader_that_leaves_is_not_an_error(db: str, args: tuple[str, ...]) -> None:
    """`queuectl status | true`: the pipe is closed before queuectl writes."""
    subprocess.run(
        [sys.executable, "-m", "queuectl", "enqueue", '{"command":"true"}'],
        env=_env(db),
        check=True,
        capture_output=True,
        timeout=60,
    )
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            check=False,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=_env(db),
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0
    warned = _durability_warning(db) if args[0] == "status" else b""
    assert done.stderr == warned  # and nothing about the pipe


def _durability_warning(db: str) -> bytes:
    """What `status` says on stderr about the database anyway (the Redis test server
    may keep no append-only file); b"" when nothing."""
    from queuectl import service
    from queuectl.store import open_store

    store = open_store(db)
    try:
        warning = service.durability_warning(store)
    finally:
        store.close()
    return b"" if warning is None else f"{warning}\n".encode()


@pytest.mark.before_store
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_the_shell(run: Run, shell: str) -> None:
    done = run("completion", shell)
    assert done.exit_code == 0, done.stderr
    assert f"_QUEUECTL_COMPLETE={shell}_" in done.stdout.replace('"', "")


@pytest.mark.before_store
def test_the_bash_script_is_valid_bash(run: Run, tmp_path: Path) -> None:
    script = tmp_path / "queuectl.bash"
    script.write_text(run("completion", "bash").stdout)
    done = subprocess.run(["bash", "-n", str(script)], check=False, capture_output=True)
    assert done.returncode == 0, done.stderr


def _complete(db: str, words: str, cword: int) -> list[str]:
    env = {**_env(db), "_QUEUECTL_COMPLETE": "bash_complete"}
    env.update(COMP_WORDS=words, COMP_CWORD=str(cword))
    done = subprocess.run(
        [sys.executable, "-m", "queuectl"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_completion_offers_commands_and_config_keys(db: str) -> None:
    assert _complete(db, "queuectl sta", 1) == ["status"]
    assert _complete(db, "queuectl config set max", 3) == ["max-retries", "max-backoff"]
    assert "dlq-list" not in _complete(db, "queuectl dl", 1)  # old spellings stay hidden


def test_completion_offers_job_ids_queues_and_states(db: str, tmp_path: Path, put: Put) -> None:
    missing = str(tmp_path / "missing.db")
    assert _complete(missing, "queuectl show ", 2) == []  # no database: nothing, none made
    assert not Path(missing).exists()
    put("build-2", "dead", queue="ci")
    put("build-1", "pending", queue="ci")  # after: put() claims the due job of the queue
    put("test-1", "completed", queue="nightly")
    assert sorted(_complete(db, "queuectl show bu", 2)) == ["build-1", "build-2"]
    assert sorted(_complete(db, "queuectl logs ", 2)) == ["build-1", "build-2", "test-1"]
    assert _complete(db, "queuectl cancel te", 2) == ["test-1"]
    assert sorted(_complete(db, "queuectl list --queue ", 3)) == ["ci", "default", "nightly"]
    assert _complete(db, "queuectl pause n", 2) == ["nightly"]
    assert _complete(db, "queuectl list --state failed,d", 3) == ["failed,dead"]
    assert _complete(db, "queuectl list --state sch", 3) == ["scheduled"]
    assert _complete(db, "queuectl retry --state c", 3) == ["completed", "cancelled"]
    other = str(tmp_path / "other.db")
    assert _complete(missing, f"queuectl show --db {db} test", 4) == ["test-1"]
    assert not Path(other).exists()
