"""The PostgreSQL test databases: one a test is done with comes back to the next test
empty, as a fresh clone would be, or is dropped when the test changed more than rows."""

from __future__ import annotations

import psycopg
import pytest

from queuectl.store import open_store
from tests.conftest import make_job, pg_helpers

pytestmark = pytest.mark.postgres


def test_a_database_a_test_used_comes_back_empty() -> None:
    helpers = pg_helpers()
    with helpers.fresh_database() as url:
        store = open_store(url)
        store.enqueue_jobs([make_job("a"), make_job("b")], 3)
        store.claim_jobs("w1", None, 1, 60.0)
        store.set_config("max-retries", "7")
        store.pause_queues(["default"])
        store.close()
    with helpers.fresh_database() as again:
        assert again == url  # reused, not cloned
        store = open_store(again)
        try:
            assert store.list_jobs() == [] and store.get_config() == {}
            assert store.paused_queues() == [] and store.metric_samples() == []
            store.enqueue_jobs([make_job("c")], 3)
            job = store.get_job("c")
            assert job is not None and job.seq == 1  # numbering starts over
            assert len(store.metric_buckets()) > 1  # what the migrations put in stays
        finally:
            store.close()


def test_a_database_whose_schema_a_test_changed_is_dropped() -> None:
    helpers = pg_helpers()
    with helpers.fresh_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TRIGGER extra BEFORE UPDATE ON jobs"
            " FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
        )
    with helpers.fresh_database() as again:
        assert again != url
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url).close()


def test_a_database_still_in_use_is_dropped() -> None:
    helpers = pg_helpers()
    with helpers.fresh_database() as url:
        left_open = psycopg.connect(url, autocommit=True)  # as a worker left running
    try:
        with helpers.fresh_database() as again:
            assert again != url
    finally:
        left_open.close()
