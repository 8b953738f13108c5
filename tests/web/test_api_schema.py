"""schemathesis against the live /openapi.json of a real server: generated requests for
every documented operation (a bounded number each, so CI stays quick) must never get a
5xx, and every documented response must match its schema and content type.

Event streams are left out: they never end on their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.web.api_server import Running, serving

EXAMPLES = 15


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    db = tmp_path_factory.mktemp("schema") / "q.db"
    with serving(str(Path(db))) as running:
        running.client.post("/api/jobs", json={"id": "known", "command": "true"})
        yield running


def test_no_5xx_and_responses_match_the_schema(live: Running) -> None:
    schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json").exclude(
        path_regex=r"^/api/events$|/output$"
    )
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=live.base_url,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        run()
        tested.append(operation.label)
    assert len(tested) >= 20, tested
