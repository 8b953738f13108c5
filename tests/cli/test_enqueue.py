"""`queuectl enqueue`: one job from a JSON spec (options override or add fields), and
many from a file or stdin in one all-or-nothing transaction."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli.conftest import Run, StoredIds

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def epoch(text: str) -> float:
    assert ISO_UTC.match(text), text
    return datetime.fromisoformat(text).timestamp()


def test_enqueue_prints_the_id_and_stores_a_pending_job_with_defaults(
    run: Run, stored_ids: StoredIds
) -> None:
    before = time.time()
    result = run("enqueue", '{"id":"job1","command":"sleep 2 && echo done"}').ok()
    after = time.time()

    assert result.stdout == "job1\n"
    assert result.stderr == ""
    assert stored_ids() == ["job1"]
    job = run("show", "job1", "--json").ok().json()
    assert job["command"] == "sleep 2 && echo done"
    assert job["state"] == "pending"
    assert job["attempts"] == 0
    assert job["max_retries"] == 3  # config max-retries default
    assert job["priority"] == 0
    assert job["queue"] == "default"
    assert job["timeout"] is None
    created = epoch(job["created_at"])
    assert before - 0.01 <= created <= after + 0.01
    assert epoch(job["updated_at"]) == created
    assert epoch(job["run_at"]) == pytest.approx(created, abs=0.002)  # due at once


def test_enqueue_without_id_generates_a_unique_one(run: Run, stored_ids: StoredIds) -> None:
    first = run("enqueue", '{"command":"echo a"}').ok().stdout.strip()
    second = run("enqueue", '{"command":"echo a"}').ok().stdout.strip()

    assert first and second and first != second
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*", first)
    assert stored_ids() == [first, second]
    assert run("show", first, "--json").ok().json()["command"] == "echo a"


def test_every_spec_field_is_stored(run: Run) -> None:
    spec = {
        "id": "full",
        "command": "make test",
        "max_retries": 7,
        "priority": -4,
        "run_at": "2031-05-06T07:08:09Z",
        "timeout": 2.5,
        "queue": "builds",
    }
    assert run("enqueue", json.dumps(spec)).ok().stdout == "full\n"

    job = run("show", "full", "--json").ok().json()
    assert {k: job[k] for k in ("command", "max_retries", "priority", "timeout", "queue")} == {
        "command": "make test",
        "max_retries": 7,
        "priority": -4,
        "timeout": 2.5,
        "queue": "builds",
    }
    assert job["run_at"].startswith("2031-05-06T07:08:09")


@pytest.mark.parametrize(
    ("run_at", "stored"),
    [
        ("2031-01-02T03:04:05", "2031-01-02T03:04:05"),  # naive: UTC
        ("2031-01-02T03:04:05Z", "2031-01-02T03:04:05"),
        ("2031-01-02T05:04:05+02:00", "2031-01-02T03:04:05"),
        ("2031-01-01T22:04:05-05:00", "2031-01-02T03:04:05"),
        ("2031-01-02", "2031-01-02T00:00:00"),
    ],
)
def test_run_at_is_read_as_iso_8601_and_shown_in_utc(run: Run, run_at: str, stored: str) -> None:
    run("enqueue", json.dumps({"id": "t", "command": "true", "run_at": run_at})).ok()
    shown = run("show", "t", "--json").ok().json()["run_at"]
    assert ISO_UTC.match(shown)
    assert shown.startswith(stored)


def test_delay_puts_run_at_that_many_seconds_after_enqueue(run: Run) -> None:
    run("enqueue", '{"id":"later","command":"true","delay":90}').ok()
    job = run("show", "later", "--json").ok().json()
    assert epoch(job["run_at"]) - epoch(job["created_at"]) == pytest.approx(90, abs=0.01)
    assert run("status", "--json").ok().json()["scheduled"] == 1


@pytest.mark.parametrize(
    ("option", "value", "field", "expected"),
    [
        ("--id", "from-option", "id", "from-option"),
        ("--priority", "9", "priority", 9),
        ("--priority", "-3", "priority", -3),
        ("--timeout", "12.5", "timeout", 12.5),
        ("--timeout", "0", "timeout", 0),
        ("--max-retries", "0", "max_retries", 0),
        ("--max-retries", "11", "max_retries", 11),
        ("--queue", "emails", "queue", "emails"),
    ],
)
def test_options_override_spec_fields(
    run: Run, option: str, value: str, field: str, expected: str | float
) -> None:
    spec = {"id": "spec-id", "command": "true", "priority": 1, "timeout": 1, "max_retries": 1}
    spec["queue"] = "from-spec"
    job_id = run("enqueue", json.dumps(spec), option, value).ok().stdout.strip()

    job = run("show", job_id, "--json").ok().json()
    assert job[field] == expected
    untouched = {"priority": 1, "timeout": 1, "max_retries": 1, "queue": "from-spec"}
    untouched.pop(field, None)
    assert {k: job[k] for k in untouched} == untouched


def test_options_add_fields_missing_from_the_spec(run: Run) -> None:
    job_id = run(
        "enqueue",
        '{"command":"true"}',
        "--id=added",
        "--priority=2",
        "--timeout=3",
        "--max-retries=4",
        "--queue=extra",
    ).ok()
    assert job_id.stdout == "added\n"
    job = run("show", "added", "--json").ok().json()
    assert (job["priority"], job["timeout"], job["max_retries"], job["queue"]) == (
        2,
        3,
        4,
        "extra",
    )


def test_run_at_option_replaces_the_spec_delay(run: Run) -> None:
    run("enqueue", '{"id":"r","command":"true","delay":5}', "--run-at", "2032-02-03T04:05:06Z").ok()
    assert run("show", "r", "--json").ok().json()["run_at"].startswith("2032-02-03T04:05:06")


def test_delay_option_replaces_the_spec_run_at(run: Run) -> None:
    spec = '{"id":"d","command":"true","run_at":"2032-02-03T04:05:06"}'
    run("enqueue", spec, "--delay", "30").ok()
    job = run("show", "d", "--json").ok().json()
    assert epoch(job["run_at"]) - epoch(job["created_at"]) == pytest.approx(30, abs=0.01)


def test_new_jobs_take_max_retries_from_config(run: Run) -> None:
    run("enqueue", '{"id":"before","command":"true"}').ok()
    run("config", "set", "max-retries", "6").ok()
    run("enqueue", '{"id":"after","command":"true"}').ok()
    run("enqueue", '{"id":"own","command":"true","max_retries":1}').ok()

    retries = {j["id"]: j["max_retries"] for j in run("list", "--json").ok().json()}
    assert retries == {"before": 3, "after": 6, "own": 1}


def test_enqueued_job_is_committed_for_other_connections(run: Run, stored_ids: StoredIds) -> None:
    run("enqueue", '{"id":"durable","command":"true"}').ok()
    # A connection of the database's own driver (another reader) sees the committed row.
    assert stored_ids() == ["durable"]


def test_unicode_and_shell_syntax_in_command_are_kept_verbatim(run: Run) -> None:
    command = "printf '%s\\n' \"héllo wörld ✓\" | tr a-z A-Z && echo $((1+2)) > /dev/null"
    run("enqueue", json.dumps({"id": "u", "command": command})).ok()
    assert run("show", "u", "--json").ok().json()["command"] == command


# -- bulk: --file -------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_file_of_json_lines_enqueues_every_job_in_order(
    run: Run, tmp_path: Path, stored_ids: StoredIds
) -> None:
    lines = [
        '{"id":"b1","command":"echo 1"}',
        "",
        '{"id":"b2","command":"echo 2","priority":5,"queue":"q2"}',
        "   ",
        '{"id":"b3","command":"echo 3","delay":60}',
    ]
    path = write(tmp_path, "jobs.jsonl", "\n".join(lines) + "\n")

    result = run("enqueue", "--file", path).ok()

    assert result.stdout == "b1\nb2\nb3\n"
    assert result.stderr == "enqueued 3 jobs\n"
    assert stored_ids() == ["b1", "b2", "b3"]
    jobs = {j["id"]: j for j in run("list", "--json").ok().json()}
    assert (jobs["b2"]["priority"], jobs["b2"]["queue"]) == (5, "q2")
    assert epoch(jobs["b3"]["run_at"]) - epoch(jobs["b3"]["created_at"]) == pytest.approx(
        60, abs=0.01
    )


def test_file_with_one_json_array(run: Run, tmp_path: Path, stored_ids: StoredIds) -> None:
    array = [{"id": "a1", "command": "echo 1"}, {"id": "a2", "command": "echo 2"}]
    path = write(tmp_path, "jobs.json", json.dumps(array, indent=2))

    assert run("enqueue", "-f", path).ok().stdout == "a1\na2\n"
    assert stored_ids() == ["a1", "a2"]


def test_file_dash_reads_stdin(run: Run, stored_ids: StoredIds) -> None:
    text = '{"id":"s1","command":"echo 1"}\n{"id":"s2","command":"echo 2"}\n'
    assert run("enqueue", "--file", "-", input=text).ok().stdout == "s1\ns2\n"
    assert stored_ids() == ["s1", "s2"]


def test_file_options_apply_to_every_job(run: Run, tmp_path: Path) -> None:
    text = '{"id":"o1","command":"true","priority":1}\n{"id":"o2","command":"true"}\n'
    path = write(tmp_path, "jobs.jsonl", text)

    run("enqueue", "--file", path, "--priority", "7", "--queue", "bulk", "--max-retries", "0").ok()

    jobs = run("list", "--json").ok().json()
    assert {(j["id"], j["priority"], j["queue"], j["max_retries"]) for j in jobs} == {
        ("o1", 7, "bulk", 0),
        ("o2", 7, "bulk", 0),
    }


def test_large_file_is_enqueued_in_one_go(run: Run, tmp_path: Path, stored_ids: StoredIds) -> None:
    ids = [f"big-{n:04d}" for n in range(1000)]
    text = "\n".join(json.dumps({"id": i, "command": f"echo {i}"}) for i in ids)
    path = write(tmp_path, "big.jsonl", text)

    assert run("enqueue", "--file", path).ok().stdout.split() == ids
    assert stored_ids() == ids
    assert run("status", "--json").ok().json()["jobs"]["pending"] == 1000


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"id":"x1","command":"true"}\n{"id":"x2","command":""}\n', "line 2"),
        ('{"id":"x1","command":"true"}\n{"id":"x2","command":"true"\n', "line 2"),
        ('{"id":"x1","command":"true"}\n\n{"id":"x2","command":"true","bogus":1}\n', "line 3"),
        ('{"id":"x1","command":"true"}\n{"id":"x2","command":"true","priority":"hi"}', "line 2"),
        ('{"id":"x1","command":"true"}\n{"id":"x1","command":"true"}\n', "line 2"),
        ('{"id":"x1","command":"true"}\n["not", "an", "object"]\n', "line 2"),
        ('{"id":"x1","command":"true","run_at":"next week"}\n', "line 1"),
        ('[{"id":"x1","command":"true"},{"id":"x2","command":"true","max_retries":-1}]', "item 1"),
        ('[{"id":"x1","command":"true"},"echo hi"]', "item 1"),
    ],
    ids=[
        "empty-command",
        "malformed",
        "unknown-field",
        "wrong-type",
        "duplicate-in-file",
        "not-an-object",
        "bad-run-at",
        "array-negative",
        "array-not-object",
    ],
)
def test_file_with_one_bad_entry_enqueues_nothing_and_names_it(
    run: Run, tmp_path: Path, stored_ids: StoredIds, text: str, where: str
) -> None:
    run("enqueue", '{"id":"existing","command":"true"}').ok()
    path = write(tmp_path, "bad.jsonl", text)

    result = run("enqueue", "--file", path)

    message = result.error(code=1)
    assert message.startswith(f"{where}: ")
    assert result.stdout == ""
    assert stored_ids() == ["existing"]


def test_bad_last_line_of_a_large_file_enqueues_nothing(
    run: Run, tmp_path: Path, stored_ids: StoredIds
) -> None:
    lines = [json.dumps({"id": f"n{n}", "command": "true"}) for n in range(500)]
    lines.append('{"id":"n500","command":"true","timeout":-1}')
    path = write(tmp_path, "bad.jsonl", "\n".join(lines))

    run("enqueue", "--file", path).error("line 501", "timeout")
    assert stored_ids() == []


def test_file_with_an_id_already_stored_enqueues_nothing(
    run: Run, tmp_path: Path, stored_ids: StoredIds
) -> None:
    run("enqueue", '{"id":"taken","command":"true"}').ok()
    text = '{"id":"fresh","command":"true"}\n{"id":"taken","command":"true"}\n'

    run("enqueue", "--file", write(tmp_path, "dup.jsonl", text)).error("taken", code=1)
    assert stored_ids() == ["taken"]


def test_file_duplicate_of_a_stored_id_names_the_line(run: Run, tmp_path: Path) -> None:
    run("enqueue", '{"id":"taken","command":"true"}').ok()
    text = '{"id":"fresh","command":"true"}\n{"id":"taken","command":"true"}\n'
    run("enqueue", "--file", write(tmp_path, "dup.jsonl", text)).error("line 2", "taken")


@pytest.mark.parametrize(
    "text", ["", "\n\n   \n", "[]"], ids=["empty", "blank-lines", "empty-array"]
)
def test_file_without_any_job_is_an_error(run: Run, tmp_path: Path, text: str) -> None:
    run("enqueue", "--file", write(tmp_path, "none.jsonl", text)).error("no job", code=1)


def test_missing_file_is_an_error(run: Run, tmp_path: Path, db: str) -> None:
    missing = str(tmp_path / "nope.jsonl")
    run("enqueue", "--file", missing).error("cannot read", "nope.jsonl", code=1)


@pytest.mark.uncreated
def test_file_and_spec_together_is_a_usage_error(run: Run, tmp_path: Path, db: str) -> None:
    path = write(tmp_path, "one.jsonl", '{"command":"true"}\n')
    run("enqueue", "--file", path, '{"command":"true"}').error(code=2)
    run("enqueue", "--file", path, "--id", "x").error(code=2)
    assert not Path(db).exists()  # usage errors never open the database


@pytest.mark.uncreated
def test_no_spec_and_no_file_is_a_usage_error(run: Run, db: str) -> None:
    run("enqueue").error("spec", code=2)
    assert not Path(db).exists()


def test_keep_daemons_is_stored_and_shown(run: Run, stored_ids: StoredIds) -> None:
    run("enqueue", '{"id":"d","command":"mydaemon --fork","keep_daemons":true}').ok()
    run("enqueue", '{"id":"n","command":"true"}').ok()
    assert run("show", "d", "--json").ok().json()["keep_daemons"] is True
    assert run("show", "n", "--json").ok().json()["keep_daemons"] is False
    assert "keep_daemons" in run("show", "d").ok().stdout
    run("enqueue", '{"id":"x","command":"true","keep_daemons":"yes"}').error("keep_daemons")
    assert sorted(stored_ids()) == ["d", "n"]


def test_bulk_lines_are_one_spec_each_even_when_joined_they_would_parse(
    run: Run, stored_ids: StoredIds
) -> None:
    # Three lines, three JSON values, but the first value spans two lines: not JSON lines.
    text = '{"command":"x"\n,"id":"y"}\n{"command":"z"} {"command":"w"}\n'
    run("enqueue", "--file", "-", input=text).error("line 1")
    assert stored_ids() == []
    many = "".join(f'{{"id":"j{i}","command":"true"}}\n\n' for i in range(300))
    expected = "".join(f"j{i}\n" for i in range(300))
    assert run("enqueue", "--file", "-", input=many).ok().stdout == expected
    assert len(stored_ids()) == 300
