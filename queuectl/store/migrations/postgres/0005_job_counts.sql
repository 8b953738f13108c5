-- Jobs per (queue, state), kept by triggers in the statement that moves jobs, so the
-- status never counts the table (a million jobs took seconds); and pending jobs by
-- (queue, run_at), so the scheduled count and each queue's oldest due job are index seeks.
-- The same as migrations/sqlite/0005_job_counts.sql, in PostgreSQL terms.

-- No job may move between the first count and the triggers taking over.
LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE job_counts (
    queue text   NOT NULL,
    state text   NOT NULL,
    n     bigint NOT NULL,
    PRIMARY KEY (queue, state)
);

INSERT INTO job_counts (queue, state, n)
SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;

-- One upsert per statement, rows taken in key order, so concurrent statements never lock
-- counter rows crosswise (and before metrics_moves: triggers fire in name order).
CREATE FUNCTION queuectl_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO job_counts AS c (queue, state, n)
        SELECT queue, state, count(*) FROM new_rows
        GROUP BY queue, state ORDER BY queue, state
        ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO job_counts AS c (queue, state, n)
        SELECT queue, state, -count(*) FROM old_rows
        GROUP BY queue, state ORDER BY queue, state
        ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO job_counts AS c (queue, state, n)
        SELECT queue, state, sum(delta) FROM (
            SELECT n.queue, n.state, 1 AS delta
            FROM new_rows AS n JOIN old_rows AS o ON o.seq = n.seq
            WHERE n.state <> o.state OR n.queue <> o.queue
            UNION ALL
            SELECT o.queue, o.state, -1
            FROM new_rows AS n JOIN old_rows AS o ON o.seq = n.seq
            WHERE n.state <> o.state OR n.queue <> o.queue
        ) AS moves
        GROUP BY queue, state HAVING sum(delta) <> 0 ORDER BY queue, state
        ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_jobs();

CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_jobs();

CREATE TRIGGER job_counts_move AFTER UPDATE ON jobs
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_jobs();

CREATE INDEX jobs_pending_run_at ON jobs (queue, run_at) WHERE state = 'pending';
