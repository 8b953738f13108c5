-- Observability: live output sizes, throughput lookups, and metric counters that live in
-- the store, so they never go backwards when a server restarts or jobs are purged.

-- Bytes each stream produced in total (stdout/stderr keep only the tail): how a follower
-- tells what is new since its last look, and how much was cut.
ALTER TABLE attempts ADD COLUMN stdout_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN stderr_bytes INTEGER NOT NULL DEFAULT 0;

-- dlq_groups / dlq_group_ids: dead jobs by how they failed, read from the index alone.
CREATE INDEX jobs_dead_error ON jobs (last_error, exit_code, seq) WHERE state = 'dead';

-- Histogram bucket upper bounds, in seconds (9e999 is +Inf), for run and wait times.
CREATE TABLE metric_buckets (le REAL PRIMARY KEY);
INSERT INTO metric_buckets (le) VALUES
    (0.005), (0.01), (0.025), (0.05), (0.1), (0.25), (0.5), (1), (2.5), (5), (10), (30),
    (60), (120), (300), (600), (1800), (3600), (9e999);

-- One row per (kind, queue, outcome, bucket): how many observations fell in that bucket
-- (not cumulative) and the sum of their seconds. Kinds:
--   wait  a claim: seconds from due (enqueue, run_at or retry time) to start; outcome ''
--   run   an attempt that ended: seconds it ran; outcome = the job's new state
--   end   a waiting job cancelled before it ran: outcome 'cancelled', le 0, seconds 0
CREATE TABLE metric_observations (
    kind    TEXT    NOT NULL,
    queue   TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    le      REAL    NOT NULL,
    n       INTEGER NOT NULL,
    seconds REAL    NOT NULL,
    PRIMARY KEY (kind, queue, outcome, le)
);

-- Runs that ended per minute, for `throughput`: a ring of one day, slot = minute % 1440,
-- so it never grows; a slot still holding the same minute a day ago starts over.
-- `minute` is epoch seconds / 60. failed = ended failed or dead (not cancelled/released).
CREATE TABLE metric_minutes (
    slot      INTEGER PRIMARY KEY,
    minute    INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    failed    INTEGER NOT NULL
);

-- The triggers count in the transaction that moves the job, whichever statement moves it.
CREATE TRIGGER metrics_claim AFTER UPDATE OF state ON jobs
WHEN NEW.state = 'processing' AND OLD.state <> 'processing'
BEGIN
    INSERT INTO metric_observations (kind, queue, outcome, le, n, seconds)
    SELECT 'wait', NEW.queue, '', (SELECT min(le) FROM metric_buckets WHERE le >= w), 1, w
    FROM (SELECT max(NEW.updated_at - max(OLD.run_at, OLD.created_at), 0.0) AS w)
    WHERE true
    ON CONFLICT (kind, queue, outcome, le) DO UPDATE
    SET n = n + 1, seconds = seconds + excluded.seconds;
END;

CREATE TRIGGER metrics_end AFTER UPDATE OF state ON jobs
WHEN NEW.state IN ('completed', 'failed', 'dead', 'cancelled') AND OLD.state <> NEW.state
BEGIN
    INSERT INTO metric_observations (kind, queue, outcome, le, n, seconds)
    SELECT CASE WHEN r IS NULL THEN 'end' ELSE 'run' END, NEW.queue, NEW.state,
           coalesce((SELECT min(le) FROM metric_buckets WHERE le >= r), 0), 1, coalesce(r, 0)
    FROM (SELECT (SELECT max(NEW.updated_at - started_at, 0.0) FROM attempts
                  WHERE job_id = NEW.id AND attempt = OLD.attempts
                    AND OLD.state = 'processing'
                  ORDER BY id DESC LIMIT 1) AS r)
    WHERE true
    ON CONFLICT (kind, queue, outcome, le) DO UPDATE
    SET n = n + 1, seconds = seconds + excluded.seconds;
    INSERT INTO metric_minutes (slot, minute, completed, failed)
    SELECT m % 1440, m, NEW.state = 'completed', NEW.state IN ('failed', 'dead')
    FROM (SELECT CAST(NEW.updated_at / 60 AS INTEGER) AS m)
    WHERE OLD.state = 'processing' AND NEW.state <> 'cancelled'
    ON CONFLICT (slot) DO UPDATE
    SET completed = CASE WHEN minute = excluded.minute
                         THEN completed + excluded.completed ELSE excluded.completed END,
        failed = CASE WHEN minute = excluded.minute
                      THEN failed + excluded.failed ELSE excluded.failed END,
        minute = excluded.minute;
END;
