"""The SQL files of every dialect stay in step: same query names, migrations 1..N."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from queuectl.store.queries import load_migrations, load_queries

DIALECTS = ["sqlite", "postgres"]
STORE_PACKAGE = files("queuectl.store")
MIGRATION_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")


def query_file(dialect: str) -> str:
    filename = f"{dialect}.sql"
    if not STORE_PACKAGE.joinpath(filename).is_file():
        if dialect == "postgres":
            pytest.skip("postgres.sql is not written yet")
        pytest.fail(f"queuectl/store/{filename} is missing")
    return filename


def only_code(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))


# Statements a dialect builds in Python instead (SQLite's bulk insert: sqlite_enqueue.py).
BUILT_IN_CODE = {"sqlite": {"enqueue_job", "job_states", "insert_after"}}
# Finishing attempts: PostgreSQL applies a batch in one statement over arrays (one round
# trip); SQLite, a local file, runs two statements per job in one transaction.
# Workflows: PostgreSQL releases the jobs after an ended one in a function (migration
# 0009), which a finish calls in its own statement; SQLite runs two statements a level.
# Unique keys: PostgreSQL makes enqueues of the same key take turns (SQLite's write lock
# already does).
OWN_WAY = {
    "sqlite": {"finish_job", "finish_attempt", "release_children", "cancel_children"},
    "postgres": {"finish_jobs", "release_after", "lock_unique_keys"},
}


def test_every_dialect_defines_the_same_query_names() -> None:
    sqlite = set(load_queries(query_file("sqlite"))) | BUILT_IN_CODE["sqlite"]
    sqlite -= OWN_WAY["sqlite"]
    postgres = set(load_queries(query_file("postgres"))) - OWN_WAY["postgres"]
    assert sorted(sqlite - postgres) == [], "in sqlite.sql only"
    assert sorted(postgres - sqlite) == [], "in postgres.sql only"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_query_block_holds_sql(dialect: str) -> None:
    queries = load_queries(query_file(dialect))  # also refuses a name defined twice
    assert queries
    assert [name for name, sql in queries.items() if not only_code(sql).strip()] == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_migrations_are_numbered_from_one_without_gaps(dialect: str) -> None:
    query_file(dialect)  # no postgres.sql yet: no postgres migrations expected either
    folder = STORE_PACKAGE.joinpath("migrations", dialect)
    names = sorted(entry.name for entry in folder.iterdir() if entry.name != "__pycache__")
    assert names, f"no migrations for {dialect}"
    # A misnamed file would be skipped (not .sql) or break the numbering: name them all.
    assert [name for name in names if not MIGRATION_NAME.match(name)] == []
    migrations = load_migrations(dialect)
    assert [version for version, _ in migrations] == list(range(1, len(migrations) + 1))
    assert all(only_code(script).strip() for _, script in migrations)
