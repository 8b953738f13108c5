-- The first schema: jobs, their attempts, config, and the worker registry.
-- Times are REAL epoch seconds (UTC). `seq` orders jobs by enqueue time.

CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    command          TEXT    NOT NULL,
    queue            TEXT    NOT NULL DEFAULT 'default',
    state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN
                       ('pending', 'processing', 'completed', 'failed', 'dead', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL,
    own_max_retries  INTEGER,            -- what the spec asked for; NULL = the config default
    timeout          REAL,               -- NULL = config job-timeout
    run_at           REAL    NOT NULL,   -- not before: first run, or the next retry
    created_at       REAL    NOT NULL,
    updated_at       REAL    NOT NULL,
    worker_id        TEXT,               -- owner while processing
    lease_expires_at REAL,
    last_error       TEXT,
    exit_code        INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);

-- claim_jobs walks this index in order: only waiting jobs are in it, so it stays small
-- however many finished jobs the table holds.
CREATE INDEX jobs_claim ON jobs (priority DESC, seq) WHERE state IN ('pending', 'failed');
-- list --state, status and purge.
CREATE INDEX jobs_state ON jobs (state, seq);
-- the reaper and heartbeats look at processing jobs only.
CREATE INDEX jobs_processing ON jobs (worker_id, lease_expires_at) WHERE state = 'processing';

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT    NOT NULL,
    started_at  REAL    NOT NULL,
    finished_at REAL,
    exit_code   INTEGER,
    error       TEXT,
    stdout      BLOB    NOT NULL DEFAULT x'',
    stderr      BLOB    NOT NULL DEFAULT x''
);
CREATE INDEX attempts_job ON attempts (job_id, attempt);

CREATE TABLE config (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE workers (
    id             TEXT    PRIMARY KEY,
    host           TEXT    NOT NULL,
    pid            INTEGER NOT NULL,
    queues         TEXT    NOT NULL,   -- JSON array; [] = every queue
    slots          INTEGER NOT NULL,
    started_at     REAL    NOT NULL,
    heartbeat_at   REAL    NOT NULL,
    stop_requested TEXT                -- NULL, 'graceful' or 'now'
);
