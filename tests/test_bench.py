"""Smoke test of `python -m queuectl.bench` at a tiny size: every figure runs and reports,
with no assertion about speed (that is the benchmark's own verdict)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from queuectl.bench.backends import REDIS_DEFAULT, redis_answers
from tests.pg_helpers import postgres_admin_url, require_postgres

EXPECTED = {
    "drain",
    "drain, 1 process",
    "drain with 2 processes vs 1",
    "slot efficiency",
    "start-up enqueue '<json>'",
    "start-up status --json",
    "enqueue loop",
    "pickup p50",
    "pickup p99",
    "scheduled pickup p50",
    "scheduled pickup p99",
    "retry pickup p50",
    "retry pickup p99",
    "bulk enqueue",
    "scale claim",
    "scale status",
    "scale list first page",
    "scale dlq list",
    "scale claim with limits",
    "idle CPU worker",
    "idle CPU serve",
}
WORKFLOWS = {
    "drain, independent jobs",
    "drain, fan-out",
    "drain, fan-in",
    "chain overhead",
    "bulk enqueue, graph",
}


def run_bench(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "queuectl.bench", "--quick", "--json", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.mark.not_fast  # the benchmark, with worker processes: seconds
def test_quick_run_on_sqlite_reports_every_figure() -> None:
    report = run_bench()
    figures = report["figures"]
    assert isinstance(figures, list)
    names = {f["name"] for f in figures}
    assert names >= EXPECTED | WORKFLOWS
    for figure in figures:
        assert figure["backend"] in {"sqlite", "-", "redis"}
        assert figure["samples"] and all(x >= 0 for x in figure["samples"])
    drain = next(f for f in figures if f["name"] == "drain")
    assert drain["baseline"] > 0 and drain["ratio"] > 0
    versus = next(f for f in figures if f["name"] == "drain with 2 processes vs 1")
    assert versus["unit"] == "x" and versus["met"] is not None
    _workflow_figures_beside_their_baselines({f["name"]: f for f in figures})


def _workflow_figures_beside_their_baselines(figures: dict[str, Any]) -> None:
    """Fan-out and fan-in against the independent drain of the same run, the chain's
    overhead per link, a graph's bulk enqueue against independent jobs (in the quick run
    above: a run of its own would take as long again)."""
    alone = figures["drain, independent jobs"]["median"]
    for name in ("drain, fan-out", "drain, fan-in"):
        assert figures[name]["baseline"] == alone > 0
        assert figures[name]["ratio"] > 0 and figures[name]["met"] in {True, False}
    assert figures["drain, fan-out"]["note"] == "1 parent, 99 children"
    assert figures["drain, fan-in"]["note"] == "99 parents, 1 child"
    chain = figures["chain overhead"]
    assert chain["unit"] == "ms/link" and chain["target"] == "< 2 ms"
    assert chain["note"].startswith("50 jobs, each run ")
    graph = figures["bulk enqueue, graph"]
    assert (
        graph["baseline"] > 0 and graph["ratio"] > 0 and graph["target"] == ">= 0.5 x independent"
    )


@pytest.mark.postgres
def test_markdown_table_for_one_figure_on_postgres() -> None:
    require_postgres()
    figures = ["--only", "drain", "--only", "scale"]
    done = subprocess.run(
        [sys.executable, "-m", "queuectl.bench", "--quick", "--db", postgres_admin_url(), *figures],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| figure | backend | median")
    drain = "| drain (100 jobs, 2 slots, 2 processes) | postgresql |"
    assert any(row.startswith(drain) for row in rows)
    assert any(row.startswith("| scale claim") for row in rows)


@pytest.mark.not_fast  # loads two stores and claims from both: seconds
@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
)
def test_claim_with_limits_puts_the_large_store_beside_the_small_one(backend: str) -> None:
    """`--only scale-limits`: a claim past a full queue's and a busy key's backlog, timed
    on a store ten times the other's size, with the small store's time as its baseline."""
    args = ["--only", "scale-limits"]
    if backend == "postgresql":
        require_postgres()
        args += ["--db", postgres_admin_url()]
    elif backend == "redis":
        if not redis_answers(REDIS_DEFAULT):
            pytest.skip(f"Redis does not answer at {REDIS_DEFAULT}")
        args += ["--db", REDIS_DEFAULT]
    report = run_bench(*args)
    figures = report["figures"]
    assert isinstance(figures, list) and len(figures) == 1
    figure = figures[0]
    assert (figure["name"], figure["backend"], figure["unit"]) == (
        "scale claim with limits",
        backend,
        "ms",
    )
    assert figure["note"].startswith("200 vs 2,000 jobs")
    assert len(figure["samples"]) == 3 and min(figure["samples"]) > 0
    assert figure["baseline_label"] == "small table" and figure["baseline"] > 0
    assert figure["ratio"] == pytest.approx(figure["median"] / figure["baseline"])
    assert figure["target"] == "<= 1.5x small table" and figure["met"] in {True, False}


@pytest.mark.not_fast  # loads and prunes a table beside a drain: seconds
def test_retention_figure_puts_the_claim_p99_during_a_prune_beside_one_without() -> None:
    report = run_bench("--only", "retention", "--prune", "1500")
    listed = report["figures"]
    assert isinstance(listed, list)
    figures = {f["name"]: f for f in listed}
    during = figures["claim p99 during prune"]
    assert during["backend"] == "sqlite" and during["unit"] == "ms"
    assert during["baseline_label"] == "no prune" and during["baseline"] > 0
    assert during["target"] == "<= 20 ms" and "1,500 completed jobs pruned" in during["note"]
    assert figures["prune"]["samples"][0] > 0


PROJECTION = {
    "store serial cost",
    "worker CPU",
    "job CPU",
    "ceiling of one database",
    "worker cores to reach it",
    "model check, 1 process",
}


@pytest.mark.not_fast  # a worker process drains jobs: seconds
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_projection_reports_costs_a_ceiling_and_checks_its_model(backend: str) -> None:
    """`--only projection`: the store's serial cost and the worker's and job's CPU a job
    (read from /proc and from the server), the ceiling and cores they give, and the
    model's prediction beside the drain measured in the same run."""
    args = ["--only", "projection"]
    if backend == "postgresql":
        require_postgres()
        args += ["--db", postgres_admin_url()]
    report = run_bench(*args)
    figures = {f["name"]: f for f in report["figures"]}  # type: ignore[attr-defined]
    assert set(figures) >= PROJECTION
    assert {f["backend"] for f in figures.values()} == {backend}
    for name in ("store serial cost", "worker CPU", "job CPU"):
        assert figures[name]["unit"] == "us/job" and figures[name]["samples"][0] >= 0, name
    serial = figures["store serial cost"]["samples"][0]  # 1,000 claims at least: > 0
    ceiling = figures["ceiling of one database"]["samples"][0]
    assert ceiling == pytest.approx(1e6 / serial)
    check = figures["model check, 1 process"]
    assert check["baseline_label"] == "predicted" and check["baseline"] > 0
    assert check["ratio"] == pytest.approx(check["samples"][0] / check["baseline"])


@pytest.mark.not_fast  # other tools run jobs: seconds
def test_other_tools_are_measured_on_the_same_work_beside_the_spawn_limit() -> None:
    """`--only others`: task-spooler end to end and GNU parallel's drain, each beside
    the spawn limit measured in the same run (CI installs both; elsewhere the test skips
    without them)."""
    missing = [tool for tool in ("tsp", "parallel") if shutil.which(tool) is None]
    if missing:
        reason = f"not installed: {', '.join(missing)} (Debian: task-spooler, parallel)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs them")
        pytest.skip(reason)
    report = run_bench("--only", "others")
    figures = {f["name"]: f for f in report["figures"]}  # type: ignore[attr-defined]
    for name in ("end to end, task-spooler", "drain, GNU parallel -j2"):
        figure = figures[name]
        assert figure["backend"] == "-" and figure["unit"] == "jobs/s", name
        assert figure["note"] == "100 jobs" and figure["samples"][0] > 0, name
        assert figure["baseline_label"] == "spawn limit" and figure["baseline"] > 0, name
        assert figure["ratio"] == pytest.approx(figure["median"] / figure["baseline"]), name
