-- The same as migrations/sqlite/0007_retry_run_at.sql: failed jobs awaiting their retry by
-- (queue, run_at), so next_due_in is one seek per queue.
CREATE INDEX jobs_failed_run_at ON jobs (queue, run_at) WHERE state = 'failed';
