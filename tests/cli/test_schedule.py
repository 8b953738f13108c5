"""`queuectl schedule` through the real command line, on every backend, and the retention
settings: each command's output, its JSON, and bad input refused with nothing changed."""

from __future__ import annotations

from tests.cli.conftest import Run, Snapshot


def test_add_list_show_pause_resume_run_remove(run: Run) -> None:
    added = run(
        "schedule", "add", "nightly", "--cron", "0 2 * * *", "--tz", "Europe/Paris",
        "--queue", "ops", "--", "./backup.sh", "--full",
    ).ok()  # fmt: skip
    assert added.stdout.startswith("schedule nightly: At 02:00 AM (Europe/Paris); next run ")
    run("schedule", "add", "sync", "--every", "15m", "--no-overlap", "--", "echo sync").ok()
    listed = run("schedule", "list", "--json").ok().json()
    assert [(s["name"], s["cron"], s["every"], s["tz"]) for s in listed] == [
        ("nightly", "0 2 * * *", None, "Europe/Paris"),
        ("sync", None, 900.0, "UTC"),
    ]
    nightly = listed[0]
    assert nightly["spec"]["command"] == "./backup.sh --full"
    assert nightly["spec"]["queue"] == "ops"
    assert nightly["next_runs"][0].endswith("T01:00:00.000Z")  # 02:00 in Paris, in winter
    table = run("schedule", "list").ok().lines
    assert table[0].split() == ["NAME", "WHEN", "ZONE", "NEXT", "RUN", "LAST", "RUN"]
    assert table[2].split()[:3] == ["sync", "every", "15m"]
    assert "no overlap" in run("schedule", "show", "sync").ok().stdout
    assert run("schedule", "pause", "sync").ok().lines == ["schedule sync: paused"]
    assert run("schedule", "show", "sync", "--json").ok().json()["paused"] is True
    run("schedule", "resume", "sync").ok()
    job_id = run("schedule", "run", "sync").ok().lines[0]
    assert job_id.startswith("sync@") and job_id.endswith("-now")
    assert [j["id"] for j in run("list", "--schedule", "sync", "--json").ok().json()] == [job_id]
    assert [r["id"] for r in run("schedule", "show", "sync", "--json").ok().json()["runs"]] == [
        job_id
    ]
    assert run("schedule", "remove", "sync").ok().lines == ["schedule sync: removed"]
    assert [s["name"] for s in run("schedule", "list", "--json").ok().json()] == ["nightly"]


def test_bad_schedules_are_refused_and_change_nothing(run: Run, snapshot: Snapshot) -> None:
    run("schedule", "add", "taken", "--every", "1h", "--", "true").ok()
    before = snapshot()
    run("schedule", "add", "taken", "--every", "1h", "--", "true").error("exists already")
    run("schedule", "add", "x", "--cron", "0 2 * *", "--", "true").error("invalid cron")
    run("schedule", "add", "x", "--every", "0.5s", "--", "true").error("1s to 3660 days")
    run("schedule", "add", "x", "--", "true").error("a cron expression or an interval")
    run("schedule", "add", "x", "--cron", "* * * * *", "--tz", "Nowhere/City", "--", "true").error(
        "unknown time zone"
    )
    run("schedule", "add", "-x", "--every", "1h", "--", "true").error(code=2)
    run("schedule", "add", "x y", "--every", "1h", "--", "true").error("invalid schedule name")
    run("schedule", "add", "x", "--every", "1h").error("give a command", code=2)
    for verb in ("show", "pause", "resume", "remove", "run"):
        run("schedule", verb, "nope").error("no schedule named 'nope'")
    assert snapshot() == before


def test_retention_settings(run: Run) -> None:
    values = run("config", "list", "--json").ok().json()
    assert (values["keep-completed"], values["keep-cancelled"], values["keep-dead"]) == (
        604800,
        604800,
        0,
    )
    run("config", "set", "keep-completed", "3d").ok()
    run("config", "set", "keep-dead", "forever").ok()
    values = run("config", "list", "--json").ok().json()
    assert (values["keep-completed"], values["keep-dead"]) == (259200, 0)
    run("config", "set", "keep-completed", "soon").error("keep-completed must be")
