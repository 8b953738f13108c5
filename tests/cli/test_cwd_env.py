"""Where a job runs: the directory it was enqueued from (or --cwd, or the spec's `cwd`),
with the worker's environment plus `env` / --env; a directory missing on the worker's host
fails the attempt with an error that says so. Real enqueues, a real burst worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

import pytest

from tests.cli.conftest import Run, StoredIds


class Cli(Protocol):
    """The `cli` fixture: what the real queuectl printed, having succeeded."""

    def __call__(self, *args: str, cwd: Path | str = ..., input: str | None = ...) -> str: ...


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """`cli(*args, cwd=...)`: the real queuectl in a subprocess on a fresh database."""
    env = {**os.environ, "QUEUECTL_DB": str(tmp_path / "q.db"), "HOME": str(tmp_path)}
    env["XDG_DATA_HOME"] = env["XDG_STATE_HOME"] = str(tmp_path / "xdg")

    def run(*args: str, cwd: Path | str = tmp_path, input: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            env=env,
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


@pytest.mark.not_fast  # a real worker process
def test_a_job_runs_where_it_was_enqueued_with_its_env(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "build.sh").write_text("#!/bin/sh\necho built in $(pwd) with $MODE $2\n")
    (project / "build.sh").chmod(0o755)
    cli("enqueue", "--id", "b", "--env", "MODE=fast", "--", "./build.sh", "x", "y", cwd=project)
    cli("enqueue", '{"id":"j","command":"pwd"}', cwd=project)  # a JSON spec, too
    cli("worker", "start", "--burst", cwd="/")
    assert cli("logs", "b") == f"built in {project} with fast y\n"
    assert cli("logs", "j") == f"{project}\n"


@pytest.mark.not_fast  # a real worker process
def test_cwd_option_and_spec_cwd(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cli("enqueue", "--id", "rel", "--cwd", "sub", "--", "pwd")
    spec = {"id": "spec", "command": "pwd", "cwd": "/", "env": {"V": "1"}}
    cli("enqueue", "--file", "-", "--env", "W=2", input=json.dumps(spec))
    shown = json.loads(cli("show", "spec", "--json"))
    assert (shown["cwd"], shown["env"]) == ("/", {"V": "1", "W": "2"})
    cli("worker", "start", "--burst")
    assert cli("logs", "rel") == f"{tmp_path / 'sub'}\n"
    assert cli("logs", "spec") == "/\n"


@pytest.mark.not_fast  # a real worker process
def test_a_missing_directory_fails_the_attempt_and_says_so(cli: Cli, tmp_path: Path) -> None:
    cli("enqueue", "--id", "gone", "--max-retries", "0", "--cwd", "/no/such/dir", "--", "true")
    cli("worker", "start", "--burst")
    shown = json.loads(cli("show", "gone", "--json"))
    assert shown["state"] == "dead"
    error = shown["attempt_log"][0]["error"]
    assert "/no/such/dir" in error and "does not exist" in error


@pytest.mark.before_store
@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"command": "true", "cwd": "relative"}, "cwd"),
        ({"command": "true", "env": {"A=B": "1"}}, "env"),
        ({"command": "true", "env": {"A": 1}}, "env"),
        ({"command": "true", "env": ["A"]}, "env"),
    ],
)
def test_bad_cwd_or_env_is_rejected(
    run: Run, stored_ids: StoredIds, spec: dict[str, object], fragment: str
) -> None:
    run("enqueue", json.dumps(spec)).error(fragment, code=1)
    assert stored_ids() == []


@pytest.mark.before_store
def test_bad_env_option_is_rejected(run: Run, stored_ids: StoredIds) -> None:
    run("enqueue", "--env", "NOVALUE", "--", "true").error("--env", code=2)
    assert stored_ids() == []


def test_env_name_alone_copies_the_callers_value(run: Run) -> None:
    run("enqueue", "--id", "e1", "--env", "FROM_SHELL", "--", "true", env={"FROM_SHELL": "hi"}).ok()
    assert run("show", "e1", "--json").ok().json()["env"] == {"FROM_SHELL": "hi"}
    missing = run("enqueue", "--env", "NOT_SET_ANYWHERE", "--", "true")
    missing.error("NOT_SET_ANYWHERE is not set in this shell", code=2)


def test_env_all_takes_the_callers_environment_but_the_workers_own(run: Run) -> None:
    env = {"MINE": "1", "NOTIFY_SOCKET": "/run/x", "QUEUECTL_TOKEN": "t" * 20}
    run("enqueue", "--id", "e2", "--env-all", "--env", "MINE=2", "--", "true", env=env).ok()
    got = run("show", "e2", "--json").ok().json()["env"]
    assert got["MINE"] == "2" and "PATH" in got
    assert "NOTIFY_SOCKET" not in got and "QUEUECTL_TOKEN" not in got
