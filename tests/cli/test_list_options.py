"""`list` filters: several states, scheduled, queue, command search, id prefix, order."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Put, Run


def listed(run: Run, *args: str) -> list[str]:
    return [job["id"] for job in run("list", *args, "--json").ok().json()]


@pytest.fixture
def mixed(put: Put, run: Run) -> None:
    """Jobs in several states and queues, enqueued in this order."""
    put("done-1", "completed", queue="ci", command="make all")
    put("dead-1", "dead", queue="ci", command="make test")
    put("failed-1", "failed", queue="web", command="curl example.org")
    put("dead-2", "dead", queue="web", command="echo 100%")
    run("enqueue", '{"id":"later-1","command":"backup","delay":3600}').ok()
    run("enqueue", '{"id":"now-1","command":"make docs","queue":"ci"}').ok()


def test_list_takes_several_states_repeated_or_comma_separated(run: Run, mixed: None) -> None:
    expected = ["dead-2", "failed-1", "dead-1"]
    assert listed(run, "--state", "failed", "--state", "dead") == expected
    assert listed(run, "--state", "failed,dead") == expected
    assert listed(run, "--state", "DEAD, failed", "--state", "dead") == expected
    assert listed(run, "--status", "failed,dead") == expected  # the old spelling too


def test_list_scheduled_is_pending_jobs_due_later(run: Run, mixed: None) -> None:
    assert listed(run, "--state", "scheduled") == ["later-1"]
    assert listed(run, "--state", "scheduled,completed") == ["later-1", "done-1"]
    assert listed(run, "--state", "pending") == ["now-1", "later-1"]


def test_list_queue_search_id_prefix_and_oldest(run: Run, mixed: None) -> None:
    assert listed(run, "--queue", "ci") == ["now-1", "dead-1", "done-1"]
    assert listed(run, "--queue", "ci", "--oldest") == ["done-1", "dead-1", "now-1"]
    assert listed(run, "--search", "make") == ["now-1", "dead-1", "done-1"]
    assert listed(run, "--search", "100%") == ["dead-2"]
    assert listed(run, "--search", "make", "--state", "dead,completed") == ["dead-1", "done-1"]
    assert listed(run, "--id-prefix", "dead-") == ["dead-2", "dead-1"]
    assert listed(run, "--id-prefix", "dead-", "--oldest", "--limit", "1") == ["dead-1"]
    assert listed(run, "--id-prefix", "nothing") == []


def test_list_oldest_says_which_end_it_cut(run: Run, mixed: None) -> None:
    table = run("list", "--oldest", "--limit", "2").ok()
    assert "done-1" in table.stdout and "dead-1" in table.stdout
    assert "now-1" not in table.stdout
    assert "oldest 2" in table.stderr and "--limit 0" in table.stderr
    assert run("list", "--oldest", "--limit", "6").ok().stderr == ""  # not cut: no note


@pytest.mark.before_store
@pytest.mark.parametrize("value", ["failed,running", "queued", "dead,,x"])
def test_list_unknown_state_in_a_list_is_a_usage_error(run: Run, mixed: None, value: str) -> None:
    message = run("list", "--state", value).error("--state", code=2)
    assert "scheduled" in message and "pending" in message  # lists the valid ones


def test_dlq_list_is_the_dead_jobs_newest_first_and_says_when_cut(run: Run, mixed: None) -> None:
    dead = [job["id"] for job in run("dlq", "list", "--json").ok().json()]
    assert dead == ["dead-2", "dead-1"]
    cut = run("dlq", "list", "--limit", "1")
    assert "dead-2" in cut.ok().stdout and "dead-1" not in cut.stdout
    assert "--limit 0" in cut.stderr
