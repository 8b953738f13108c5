"""`queuectl enqueue -- CMD ...`: a plain command, as `pueue add -- cmd` and `tsp cmd`, with
the spec's fields as options; `--file` prints the new ids; `--json` on enqueue."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run, StoredIds


def shown(run: Run, job_id: str) -> dict[str, object]:
    job: dict[str, object] = run("show", job_id, "--json").ok().json()
    return job


def test_words_after_double_dash_are_the_command(run: Run) -> None:
    job_id = run("enqueue", "--", "./build.sh", "--fast").ok().stdout.strip()
    assert shown(run, job_id)["command"] == "./build.sh --fast"


def test_several_words_are_quoted_one_by_one(run: Run) -> None:
    job_id = run("enqueue", "--", "grep", "a b", "file").ok().stdout.strip()
    assert shown(run, job_id)["command"] == "grep 'a b' file"


def test_one_word_is_a_shell_command_line_as_typed(run: Run) -> None:
    job_id = run("enqueue", "--", "make && make test").ok().stdout.strip()
    assert shown(run, job_id)["command"] == "make && make test"


def test_options_before_double_dash_set_the_fields(run: Run) -> None:
    args = ["--queue", "ci", "--priority", "5", "--delay", "1h30m", "--timeout", "2m"]
    args += ["--max-retries", "1", "--id", "build-1"]
    assert run("enqueue", *args, "--", "make", "-j4").ok().stdout == "build-1\n"
    job = shown(run, "build-1")
    assert (job["queue"], job["priority"], job["timeout"], job["max_retries"]) == ("ci", 5, 120, 1)
    assert job["command"] == "make -j4"


def test_run_at_option_on_a_plain_command(run: Run) -> None:
    run("enqueue", "--id", "later", "--run-at", "2030-01-02T03:04:05+01:00", "--", "true").ok()
    assert shown(run, "later")["run_at"] == "2030-01-02T02:04:05.000Z"


@pytest.mark.before_store
def test_missing_command_after_double_dash_is_an_error(run: Run, stored_ids: StoredIds) -> None:
    run("enqueue", "--").error("command after --", code=2)
    assert stored_ids() == []


@pytest.mark.before_store
def test_spec_and_plain_command_together_is_an_error(run: Run, stored_ids: StoredIds) -> None:
    run("enqueue", '{"command":"true"}', "--", "ls").error("one of")
    assert stored_ids() == []


@pytest.mark.before_store
def test_a_spec_that_is_not_json_points_to_double_dash(run: Run, stored_ids: StoredIds) -> None:
    run("enqueue", "ls -la").error("malformed JSON", "enqueue -- CMD", code=1)
    assert stored_ids() == []


def test_json_flag_prints_the_ids(run: Run) -> None:
    assert run("enqueue", "--json", "--id", "j1", "--", "true").ok().json() == {"ids": ["j1"]}
    text = '{"id":"f1","command":"true"}\n{"id":"f2","command":"true"}\n'
    assert run("enqueue", "--json", "--file", "-", input=text).ok().json() == {"ids": ["f1", "f2"]}


@pytest.mark.before_store
@pytest.mark.parametrize("value", ["soon", "-1", "5x"])
def test_bad_duration_options_are_rejected(run: Run, stored_ids: StoredIds, value: str) -> None:
    run("enqueue", "--delay", value, "--", "true").error("--delay", code=2)
    assert stored_ids() == []
