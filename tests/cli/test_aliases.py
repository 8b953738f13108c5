"""Spellings of the earlier QueueCTL tools (docs/coming-from-earlier-tools.md): each one
does what the current command does, and none shows in --help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import stored
from tests.cli.conftest import Put, Run

ALIASES = [
    "worker-start",
    "worker-stop",
    "dlq-list",
    "dlq-retry",
    "config-set",
    "config-get",
    "config-show",
    "config-reset",
    "init",
]
VISIBLE = ["enqueue", "list", "show", "logs", "status", "dlq", "config", "cancel", "purge", "db"]
QUEUECTL = Path(sys.executable).with_name("queuectl")


def help_commands(text: str) -> list[str]:
    """The command names listed under 'Commands:' in a --help text."""
    section = text.split("Commands:", 1)[1]
    return re.findall(r"^  (\S+)", section, flags=re.MULTILINE)


# -- hidden -------------------------------------------------------------------------------


@pytest.mark.uncreated
def test_aliases_are_not_in_the_main_help(run: Run, db: str) -> None:
    text = run("--help").ok().stdout
    listed = help_commands(text)
    assert set(VISIBLE) <= set(listed), listed
    assert not set(ALIASES) & set(listed)
    for alias in ALIASES:
        if "-" in alias:
            assert alias not in text
    assert not Path(db).exists()  # --help never opens the database


@pytest.mark.before_store
def test_status_option_is_not_in_list_help(run: Run) -> None:
    text = run("list", "--help").ok().stdout
    assert "--state" in text
    assert "--status" not in text


@pytest.mark.before_store
@pytest.mark.parametrize("group", ["dlq", "config", "db", "worker"])
def test_group_help_lists_only_current_names(run: Run, group: str) -> None:
    listed = help_commands(run(group, "--help").ok().stdout)
    assert listed, group
    assert not set(listed) & {"dlq-list", "config-show", "show", "init", "worker-start"}


@pytest.mark.before_store
@pytest.mark.parametrize("alias", ALIASES)
def test_each_alias_has_its_own_help(run: Run, alias: str) -> None:
    text = run(alias, "--help").ok().stdout
    assert text.startswith(f"Usage: queuectl {alias}")


# -- they work ------------------------------------------------------------------------------


def test_dlq_list_alias(run: Run, put: Put) -> None:
    put("d1", "dead")
    put("p1", "pending")
    put("d2", "dead")
    assert run("dlq-list", "--json").ok().json() == run("dlq", "list", "--json").ok().json()
    assert [j["id"] for j in run("dlq-list", "--json").ok().json()] == ["d2", "d1"]
    table = run("dlq-list").ok().stdout
    assert "d1" in table and "d2" in table and "p1" not in table


def test_dlq_retry_alias(run: Run, put: Put) -> None:
    put("d1", "dead")
    put("d2", "dead")
    assert run("dlq-retry", "d1").ok().stdout == "d1: pending\n"
    states = {j["id"]: j["state"] for j in run("list", "--json").ok().json()}
    assert states == {"d1": "pending", "d2": "dead"}
    run("dlq-retry").error("--all", code=2)


def test_config_set_and_get_aliases(run: Run) -> None:
    assert run("config-set", "max_retries", "5").ok().stdout == "max-retries = 5\n"
    assert run("config-get", "max-retries").ok().stdout == "5\n"
    assert run("config", "get", "max_retries").ok().stdout == "5\n"
    run("config-set", "max_retries").error(code=2)
    run("config-set", "max_retries", "lots").error("whole number", code=1)
    assert run("config-get", "max-retries").ok().stdout == "5\n"


def test_config_set_with_underscores(run: Run) -> None:
    assert run("config", "set", "max_retries", "5").ok().stdout == "max-retries = 5\n"
    run("config", "set", "backoff_base", "3").ok()
    values = run("config", "list", "--json").ok().json()
    assert (values["max-retries"], values["backoff-base"]) == (5, 3)


def test_config_show_and_config_get_without_key_list_everything(run: Run) -> None:
    run("config", "set", "grace-period", "7").ok()
    listing = run("config", "list").ok().stdout
    assert "grace-period = 7" in listing
    assert run("config-show").ok().stdout == listing
    assert run("config", "get").ok().stdout == listing
    assert run("config-get").ok().stdout == listing
    assert run("config-show", "--json").ok().json() == run("config", "list", "--json").ok().json()


def test_config_reset_alias(run: Run) -> None:
    run("config-set", "max-retries", "9").ok()
    run("config-set", "job-timeout", "30").ok()
    run("config-reset", "job_timeout").ok()
    assert run("config-get", "job-timeout").ok().stdout == "0\n"
    assert run("config-get", "max-retries").ok().stdout == "9\n"
    run("config-reset").ok()
    assert run("config-get", "max-retries").ok().stdout == "3\n"


def test_list_status_is_list_state(run: Run, put: Put) -> None:
    put("p", "pending")
    put("d", "dead")
    put("c", "completed")
    for state in ("pending", "dead", "completed"):
        via_alias = run("list", "--status", state, "--json").ok().json()
        assert via_alias == run("list", "--state", state, "--json").ok().json()
        assert [j["state"] for j in via_alias] == [state]


def test_init_is_db_migrate(run: Run, db: str) -> None:
    latest = stored.latest_schema(db)
    result = run("init").ok()
    assert result.stdout.startswith(f"schema version {latest} ")
    assert stored.schema_version(db) == latest
    assert run("init").ok().stdout == run("db", "migrate").ok().stdout


def test_worker_stop_alias_with_no_worker(run: Run) -> None:
    assert run("worker-stop").ok().stdout == run("worker", "stop").ok().stdout
    assert "no workers" in run("worker-stop").ok().stdout


def test_ping(run: Run, backend: str) -> None:
    assert run("ping").ok().stdout.startswith(f"ok: {stored.PRODUCT[backend]}")


@pytest.mark.not_fast  # a real worker process
def test_worker_start_alias_runs_jobs(tmp_path: Path) -> None:
    """A real worker process, started by the old spelling, in burst mode."""
    db = str(tmp_path / "w.db")
    env = {**os.environ, "QUEUECTL_DB": db, "XDG_DATA_HOME": str(tmp_path / "xdg")}

    def queuectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(QUEUECTL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    assert queuectl("enqueue", '{"id":"w1","command":"echo from-alias"}').returncode == 0
    started = queuectl("worker-start", "--burst")
    assert started.returncode == 0, started.stderr
    shown = queuectl("show", "w1", "--json")
    assert '"state": "completed"' in shown.stdout
    assert queuectl("logs", "w1").stdout == "from-alias\n"


@pytest.mark.parametrize(
    ("old", "value", "shown"),
    [
        ("base_delay", "3", "backoff-base = 3"),
        ("timeout", "10", "job-timeout = 10"),
        ("job_time_out_seconds", "20", "job-timeout = 20"),
        ("max_backoff_seconds", "60", "max-backoff = 60"),
        ("worker_count", "4", "worker-count = 4"),
        ("poll_interval", "0.25", "poll-interval = 0.25"),
        ("poll-interval-ms", "200", "poll-interval = 0.2"),
    ],
)
def test_config_keys_of_earlier_tools(run: Run, old: str, value: str, shown: str) -> None:
    done = run("config", "set", old, value)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == shown + "\n"
    key, stored = shown.split(" = ")
    assert run("config", "get", key).stdout == stored + "\n"


def test_a_bad_value_for_a_scaled_alias_changes_nothing(run: Run) -> None:
    done = run("config", "set", "poll-interval-ms", "soon")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert run("config", "get", "poll-interval").stdout == "0.5\n"


@pytest.mark.not_fast  # a real worker process
def test_worker_start_uses_the_worker_count_setting(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    env = {**os.environ, "QUEUECTL_DB": db}

    def queuectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(QUEUECTL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    assert queuectl("db", "migrate").returncode == 0  # a setting goes into an existing queue
    assert queuectl("config", "set", "worker-count", "3").returncode == 0
    started = queuectl("worker", "start", "--burst")
    assert started.returncode == 0, started.stderr
    assert "3 slot(s)" in started.stderr
