"""`queuectl dlq groups` and `dlq retry --group KEY`: dead jobs grouped by how they failed."""

from __future__ import annotations

from tests.cli.conftest import Put, Run


def test_groups_list_the_dead_by_failure_and_a_group_is_retried(run: Run, put: Put) -> None:
    for job_id, code in [("a", 2), ("b", 9), ("c", 2), ("d", 2)]:
        put(job_id, "dead", exit_code=code)
    put("ok", "completed")

    groups = run("dlq", "groups", "--json").ok().json()
    assert [(g["error"], g["exit_code"], g["count"], g["newest_job_id"]) for g in groups] == [
        ("exit code 2", 2, 3, "d"),
        ("exit code 9", 9, 1, "b"),
    ]
    table = run("dlq", "groups").ok().stdout
    assert groups[0]["key"] in table and "exit code 9" in table

    retried = run("dlq", "retry", "--group", groups[0]["key"]).ok()
    assert retried.lines == ["a: pending", "c: pending", "d: pending"]
    left = run("dlq", "groups", "--json").ok().json()
    assert [g["key"] for g in left] == [groups[1]["key"]]
    run("dlq", "retry", "--group", groups[0]["key"]).error("no dead jobs in group", code=1)


def test_retry_takes_exactly_one_of_ids_all_and_group(run: Run, put: Put) -> None:
    put("a", "dead")
    for args in (["--all", "--group", "k"], ["a", "--group", "k"], ["a", "--all"], []):
        run("dlq", "retry", *args).error("one of them", code=2)
    assert run("dlq", "groups", "--json").ok().json()[0]["count"] == 1
    assert run("dlq", "groups").ok().stdout.count("exit code 1") == 1


def test_groups_of_an_empty_dlq(run: Run) -> None:
    assert run("dlq", "groups", "--json").ok().json() == []
