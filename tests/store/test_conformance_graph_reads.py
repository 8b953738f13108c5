"""The reads a workflow's graph is walked with, on every backend: several jobs at once
(get_jobs) and the links of several jobs at once (job_links), a deleted job's included."""

from __future__ import annotations

from queuectl.models import JobLinks
from queuectl.store import Store
from tests.conftest import make_job
from tests.store.test_conformance import OK, enqueue, get


def test_get_jobs_reads_those_that_exist(store: Store) -> None:
    enqueue(store, make_job("a"), make_job("b", command="echo b"), make_job("c"))
    found = store.get_jobs(["c", "nope", "b"])
    assert sorted(found) == ["b", "c"]
    assert found["b"] == get(store, "b")
    assert store.get_jobs([]) == {}


def test_job_links_of_many_jobs_in_one_read(store: Store) -> None:
    enqueue(
        store,
        make_job("root"),
        make_job("left", after=("root",)),
        make_job("right", after=("root",)),
        make_job("join", after=("left", "right")),
    )
    asked = ["join", "root", "left", "root", "alone"]  # repeated, and one in no workflow
    assert store.job_links(asked) == {
        "join": JobLinks(after=("left", "right"), dependents=()),
        "root": JobLinks(after=(), dependents=("left", "right")),
        "left": JobLinks(after=("root",), dependents=("join",)),
        "alone": JobLinks(),
    }
    (claimed,) = store.claim_jobs("w1", None, 1, 60.0)
    assert claimed.id == "root"
    assert store.complete_job("root", "w1", claimed.last_attempt, OK)
    assert store.delete_jobs(["root"]) == 1
    assert store.job_links(["left", "root"])["left"] == JobLinks(("root",), ("join",))
    assert store.get_jobs(["root", "left"]).keys() == {"left"}
