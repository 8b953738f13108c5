-- The first schema: jobs, their attempts, config, and the worker registry.
-- The same tables as migrations/sqlite/0001_initial.sql, in PostgreSQL terms: times are
-- timestamptz (read back as epoch seconds by postgres.py), so an operator reading the
-- tables in psql sees dates. `seq` orders jobs by enqueue time.
-- Counters that come from user input (priority, max_retries) are bigint, as wide as
-- SQLite's INTEGER, so both backends accept the same specs.

CREATE TABLE jobs (
    seq              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text        NOT NULL UNIQUE,
    command          text        NOT NULL,
    queue            text        NOT NULL DEFAULT 'default',
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN
                       ('pending', 'processing', 'completed', 'failed', 'dead', 'cancelled')),
    priority         bigint      NOT NULL DEFAULT 0,
    attempts         integer     NOT NULL DEFAULT 0,
    max_retries      bigint      NOT NULL,
    own_max_retries  bigint,             -- what the spec asked for; NULL = the config default
    timeout          double precision,   -- seconds; NULL = config job-timeout
    run_at           timestamptz NOT NULL,   -- not before: first run, or the next retry
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    worker_id        text,               -- owner while processing
    lease_expires_at timestamptz,
    last_error       text,
    exit_code        integer,
    cancel_requested boolean     NOT NULL DEFAULT false
);

-- claim_jobs walks this index in order: only waiting jobs are in it, so it stays small
-- however many finished jobs the table holds.
CREATE INDEX jobs_claim ON jobs (priority DESC, seq) WHERE state IN ('pending', 'failed');
-- list --state, status and purge.
CREATE INDEX jobs_state ON jobs (state, seq);
-- the reaper and heartbeats look at processing jobs only.
CREATE INDEX jobs_processing ON jobs (worker_id, lease_expires_at) WHERE state = 'processing';

CREATE TABLE attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      text        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    worker_id   text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    exit_code   integer,
    error       text,
    stdout      bytea       NOT NULL DEFAULT '',
    stderr      bytea       NOT NULL DEFAULT ''
);
CREATE INDEX attempts_job ON attempts (job_id, attempt);

CREATE TABLE config (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE workers (
    id             text        PRIMARY KEY,
    host           text        NOT NULL,
    pid            integer     NOT NULL,
    queues         text[]      NOT NULL,   -- {} = every queue
    slots          integer     NOT NULL,
    started_at     timestamptz NOT NULL,
    heartbeat_at   timestamptz NOT NULL,
    stop_requested text                    -- NULL, 'graceful' or 'now'
);
