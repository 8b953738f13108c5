-- Limits (queuectl/limits.py): a queue's concurrency limit and rate, and concurrency keys.
-- A queue's running count is job_counts' (queue, 'processing') row, kept by the triggers
-- of migration 0005 in the transaction that moves a job; a key's counters are kept here
-- the same way, so a claim reads counters and never counts running jobs.
ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;

-- One row per queue with a limit (none: the claim takes its unlimited path).
CREATE TABLE queue_limits (
    queue         TEXT PRIMARY KEY,
    concurrency   INTEGER,              -- NULL: no concurrency limit
    rate_count    INTEGER,              -- NULL: no rate; else rate_count starts a rate_period
    rate_period   REAL,
    next_start_at REAL NOT NULL DEFAULT 0 -- the rate's next allowed start (store clock)
) WITHOUT ROWID;

-- One row per key that has unfinished jobs or a limit of its own.
CREATE TABLE key_limits (
    key         TEXT PRIMARY KEY,
    concurrency INTEGER,                -- NULL: the default (1)
    running     INTEGER NOT NULL DEFAULT 0,  -- its jobs processing now
    jobs        INTEGER NOT NULL DEFAULT 0   -- its jobs pending, failed or processing
) WITHOUT ROWID;
CREATE INDEX key_limits_full ON key_limits (key) WHERE running > 0;
CREATE INDEX key_limits_used ON key_limits (key) WHERE jobs > 0;

CREATE TRIGGER key_limits_insert AFTER INSERT ON jobs
WHEN NEW.concurrency_key IS NOT NULL AND NEW.state IN ('pending', 'failed', 'processing')
BEGIN
    INSERT INTO key_limits (key, running, jobs)
    VALUES (NEW.concurrency_key, NEW.state = 'processing', 1)
    ON CONFLICT (key) DO UPDATE
    SET running = running + (NEW.state = 'processing'), jobs = jobs + 1;
END;

CREATE TRIGGER key_limits_move AFTER UPDATE OF state ON jobs
WHEN NEW.concurrency_key IS NOT NULL AND NEW.state <> OLD.state
BEGIN
    INSERT INTO key_limits (key, running, jobs)
    VALUES (NEW.concurrency_key,
            (NEW.state = 'processing') - (OLD.state = 'processing'),
            (NEW.state IN ('pending', 'failed', 'processing'))
              - (OLD.state IN ('pending', 'failed', 'processing')))
    ON CONFLICT (key) DO UPDATE
    SET running = running + excluded.running, jobs = jobs + excluded.jobs;
    DELETE FROM key_limits
    WHERE key = NEW.concurrency_key AND jobs = 0 AND running = 0 AND concurrency IS NULL;
END;

CREATE TRIGGER key_limits_delete AFTER DELETE ON jobs
WHEN OLD.concurrency_key IS NOT NULL AND OLD.state IN ('pending', 'failed', 'processing')
BEGIN
    UPDATE key_limits
    SET running = running - (OLD.state = 'processing'), jobs = jobs - 1
    WHERE key = OLD.concurrency_key;
    DELETE FROM key_limits
    WHERE key = OLD.concurrency_key AND jobs = 0 AND running = 0 AND concurrency IS NULL;
END;

-- Who holds a key (the reason `show` gives for a job waiting for it).
CREATE INDEX jobs_key_running ON jobs (concurrency_key)
    WHERE state = 'processing' AND concurrency_key IS NOT NULL;
