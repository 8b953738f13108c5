-- Limits (queuectl/limits.py): a queue's concurrency limit and rate, and concurrency keys.
-- The same as migrations/sqlite/0010_limits.sql, in PostgreSQL terms. A queue's running
-- count is job_counts' (queue, 'processing') row (migration 0005); a key's counters are
-- kept here by row triggers whose WHEN clause leaves jobs without a key untouched (no
-- function call). A limited claim takes a transaction lock first and reads the counters
-- in statements after it (postgres_limits.py), so what it reads is fresh.
ALTER TABLE jobs ADD COLUMN concurrency_key text;

CREATE TABLE queue_limits (
    queue         text PRIMARY KEY,
    concurrency   integer,
    rate_count    integer,
    rate_period   float8,
    next_start_at timestamptz NOT NULL DEFAULT 'epoch'
);

CREATE TABLE key_limits (
    key         text PRIMARY KEY,
    concurrency integer,
    running     integer NOT NULL DEFAULT 0,
    jobs        integer NOT NULL DEFAULT 0
);
CREATE INDEX key_limits_full ON key_limits (key) WHERE running > 0;
CREATE INDEX key_limits_used ON key_limits (key) WHERE jobs > 0;
CREATE INDEX jobs_key_running ON jobs (concurrency_key)
    WHERE state = 'processing' AND concurrency_key IS NOT NULL;

CREATE FUNCTION queuectl_count_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    the_key text;
    running_delta integer := 0;
    jobs_delta integer := 0;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        the_key := NEW.concurrency_key;
        running_delta := (NEW.state = 'processing')::integer;
        jobs_delta := (NEW.state IN ('pending', 'failed', 'processing'))::integer;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        the_key := OLD.concurrency_key;
        running_delta := running_delta - (OLD.state = 'processing')::integer;
        jobs_delta := jobs_delta - (OLD.state IN ('pending', 'failed', 'processing'))::integer;
    END IF;
    INSERT INTO key_limits AS k (key, running, jobs)
    VALUES (the_key, running_delta, jobs_delta)
    ON CONFLICT (key) DO UPDATE
    SET running = k.running + excluded.running, jobs = k.jobs + excluded.jobs;
    DELETE FROM key_limits AS k
    WHERE k.key = the_key AND k.jobs = 0 AND k.running = 0 AND k.concurrency IS NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER key_limits_insert AFTER INSERT ON jobs
FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL
                   AND NEW.state IN ('pending', 'failed', 'processing'))
EXECUTE FUNCTION queuectl_count_key();

CREATE TRIGGER key_limits_move AFTER UPDATE OF state ON jobs
FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.state <> OLD.state)
EXECUTE FUNCTION queuectl_count_key();

CREATE TRIGGER key_limits_delete AFTER DELETE ON jobs
FOR EACH ROW WHEN (OLD.concurrency_key IS NOT NULL
                   AND OLD.state IN ('pending', 'failed', 'processing'))
EXECUTE FUNCTION queuectl_count_key();
