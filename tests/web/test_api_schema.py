"""The OpenAPI document is the truth: schemathesis, with every one of its checks, against a
real server on each backend. Generated requests (schema-valid and schema-breaking, in its
coverage, fuzzing and stateful phases) must never get a 5xx, valid ones must be accepted,
invalid ones refused, and every response must match its documented status, content type,
headers and schema.

Bounded (a fixed number of examples per operation, a fixed seed) so CI stays quick; the
same command with `--max-time 300` is the long run. Event streams are left out: they never
end on their own. Two rules the document cannot state are named below, each for the one
operation it concerns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.api_server import serving

pytestmark = pytest.mark.shared_store  # workers or servers in other processes

# Generated examples per operation: every one on SQLite; fewer on PostgreSQL and Redis,
# whose stores answer the same service layer (their own behaviour is the conformance
# suite's), to keep the suite's time.
EXAMPLES = {"sqlite": 15}
SERVER_EXAMPLES = 8
# One criterion per entry: schemathesis joins several with "or".
CONFIG = """
# A cursor is valid only when this server issued it: a generated one is refused (422).
[[operations]]
include-name = ["GET /api/jobs", "GET /api/dlq"]
checks.positive_data_acceptance.expected-statuses = [200, 422]

# A job may run `after` only jobs that exist (or come in the same request): a generated
# id names none, so such a spec is schema-valid yet refused (422). A spec whose unique key
# a waiting job holds adds nothing and names that job (200).
[[operations]]
include-name = "POST /api/jobs"
checks.positive_data_acceptance.expected-statuses = [200, 201, 409, 422]

# A schedule's cron expression and time zone are read by their libraries (cronsim,
# zoneinfo), and a schedule needs exactly one of cron and every: a schema-valid body can
# still be refused (422), and a name can be taken (409).
[[operations]]
include-name = "POST /api/schedules"
checks.positive_data_acceptance.expected-statuses = [201, 409, 422]

# Each config key has its own range (GET /api/config says which); the document types
# `value` for all keys at once, so an out-of-range value is schema-valid yet refused.
[[operations]]
include-name = "PUT /api/config/{key}"
checks.positive_data_acceptance.expected-statuses = [200, 404, 422]
"""


@pytest.mark.not_fast  # property-based: half a minute
def test_every_schemathesis_check_passes(store_url: str, backend: str, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with serving(store_url) as api:
        api.client.post("/api/jobs", json={"id": "known", "command": "true"})
        paths = api.client.get("/openapi.json").json()["paths"]
        operations = sum(len(methods) for path, methods in paths.items() if path != "/api/events")
        command = [
            sys.executable,
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
            "--no-color",
            "--config-file",
            str(config),
            "run",
            f"{api.base_url}/openapi.json",
            "--checks",
            "all",
            "--exclude-path-regex",
            "^/api/events$",
            "--max-examples",
            str(EXAMPLES.get(backend, SERVER_EXAMPLES)),
            "--seed",
            "20261206",
            "--workers",
            "1",
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
        )
    if done.returncode != 0:
        pytest.fail(f"schemathesis found failures:\n{done.stdout[-8000:]}\n{done.stderr[-2000:]}")
    assert f"Tested: {operations}" in done.stdout, done.stdout[-3000:]  # every one of them
