"""`--json` on the commands that change something (enqueue, cancel and retry have their
own tests) and on `logs`: the same shapes as the REST API."""

from __future__ import annotations

from tests.cli.conftest import Run


def test_logs_json(run: Run, put) -> None:
    put("done", "completed", stdout=b"one\ntwo\n", stderr=b"warn\n")
    assert run("logs", "done", "--json").ok().json() == {
        "attempt": 1,
        "stdout": "one\ntwo\n",
        "stderr": "warn\n",
        "running": False,
        "exit_code": 0,
        "error": None,
    }
    assert run("logs", "done", "--json", "--tail", "1").ok().json()["stdout"] == "two\n"
    run("logs", "done", "--json", "--follow").error("--follow", code=2)


def test_purge_json(run: Run, put) -> None:
    put("old", "completed")
    assert run("purge", "--state", "completed", "--json").ok().json() == {"deleted": 1}


def test_worker_stop_json_without_workers(run: Run) -> None:
    assert run("worker", "stop", "--json").ok().json() == {
        "stopped": [],
        "dead": [],
        "remaining": [],
    }
