"""Store records (queuectl's own bookkeeping: schedules, the last prune), on every backend:
compare-and-set by version, so two hosts that read the same record cannot both write it."""

from __future__ import annotations

from queuectl.models import Record
from queuectl.store import Store, open_store


def test_a_record_is_written_only_as_it_was_read(store: Store) -> None:
    assert store.get_records("schedule") == {}
    assert store.put_record("schedule", "nightly", '{"a": 1}', None) == 1
    assert store.put_record("schedule", "nightly", "again", None) is None  # exists already
    assert store.put_record("schedule", "nightly", "b 2", 1) == 2
    assert store.put_record("schedule", "nightly", "stale", 1) is None
    assert store.put_record("schedule", "hourly", "x", 3) is None  # absent: no version
    assert store.get_records("schedule") == {"nightly": Record("b 2", 2)}
    assert store.get_records("retention") == {}
    assert store.delete_record("schedule", "nightly")
    assert not store.delete_record("schedule", "nightly")
    assert store.get_records("schedule") == {}


def test_of_two_writers_that_read_the_same_version_one_wins(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    try:
        first.put_record("retention", "last-prune", "0", None)
        version = second.get_records("retention")["last-prune"].version
        assert first.put_record("retention", "last-prune", "first", version) == version + 1
        assert second.put_record("retention", "last-prune", "second", version) is None
        assert second.get_records("retention")["last-prune"] == Record("first", version + 1)
    finally:
        first.close()
        second.close()
