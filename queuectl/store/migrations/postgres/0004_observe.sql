-- Observability: live output sizes, throughput lookups, and metric counters that live in
-- the store, so they never go backwards when a server restarts or jobs are purged.
-- The same tables as migrations/sqlite/0004_observe.sql, in PostgreSQL terms.

-- Bytes each stream produced in total (stdout/stderr keep only the tail): how a follower
-- tells what is new since its last look, and how much was cut.
ALTER TABLE attempts ADD COLUMN stdout_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN stderr_bytes bigint NOT NULL DEFAULT 0;

-- dlq_groups / dlq_group_ids: dead jobs by how they failed, read from the index alone.
CREATE INDEX jobs_dead_error ON jobs (last_error, exit_code, seq) WHERE state = 'dead';

-- Histogram bucket upper bounds, in seconds, for run and wait times.
CREATE TABLE metric_buckets (le double precision PRIMARY KEY);
INSERT INTO metric_buckets (le) VALUES
    (0.005), (0.01), (0.025), (0.05), (0.1), (0.25), (0.5), (1), (2.5), (5), (10), (30),
    (60), (120), (300), (600), (1800), (3600), ('Infinity');

-- One row per (kind, queue, outcome, bucket): how many observations fell in that bucket
-- (not cumulative) and the sum of their seconds. Kinds:
--   wait  a claim: seconds from due (enqueue, run_at or retry time) to start; outcome ''
--   run   an attempt that ended: seconds it ran; outcome = the job's new state
--   end   a waiting job cancelled before it ran: outcome 'cancelled', le 0, seconds 0
CREATE TABLE metric_observations (
    kind    text             NOT NULL,
    queue   text             NOT NULL,
    outcome text             NOT NULL,
    le      double precision NOT NULL,
    n       bigint           NOT NULL,
    seconds double precision NOT NULL,
    PRIMARY KEY (kind, queue, outcome, le)
);

-- Runs that ended per minute, for `throughput`: a ring of one day, slot = minute % 1440,
-- so it never grows; a slot still holding the same minute a day ago starts over.
-- `minute` is epoch seconds / 60. failed = ended failed or dead (not cancelled/released).
CREATE TABLE metric_minutes (
    slot      integer PRIMARY KEY,
    minute    bigint  NOT NULL,
    completed bigint  NOT NULL,
    failed    bigint  NOT NULL
);

-- Counts in the statement that moves jobs, whichever it is: one upsert per statement,
-- rows taken in key order so concurrent claims never lock counter rows crosswise.
CREATE FUNCTION queuectl_count_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moves AS (
        SELECT n.id, n.queue, n.state, n.updated_at, o.state AS old_state,
               o.attempts AS old_attempts, greatest(o.run_at, o.created_at) AS due
        FROM new_rows AS n JOIN old_rows AS o ON o.seq = n.seq
        WHERE n.state IS DISTINCT FROM o.state
    ), observed AS (
        SELECT 'wait' AS kind, m.queue, '' AS outcome,
               greatest(extract(epoch FROM m.updated_at - m.due)::float8, 0) AS secs
        FROM moves AS m WHERE m.state = 'processing'
        UNION ALL
        SELECT CASE WHEN a.started_at IS NULL THEN 'end' ELSE 'run' END, m.queue, m.state,
               CASE WHEN a.started_at IS NOT NULL
                    THEN greatest(extract(epoch FROM m.updated_at - a.started_at)::float8, 0)
               END
        FROM moves AS m
        LEFT JOIN LATERAL (
            SELECT started_at FROM attempts
            WHERE job_id = m.id AND attempt = m.old_attempts AND m.old_state = 'processing'
            ORDER BY id DESC LIMIT 1
        ) AS a ON true
        WHERE m.state IN ('completed', 'failed', 'dead', 'cancelled')
    ), bucketed AS (
        SELECT o.kind, o.queue, o.outcome, o.secs,
               coalesce((SELECT min(b.le) FROM metric_buckets AS b WHERE b.le >= o.secs), 0)
                   AS le
        FROM observed AS o
    ), counted AS (
        INSERT INTO metric_observations AS t (kind, queue, outcome, le, n, seconds)
        SELECT kind, queue, outcome, le, count(*), coalesce(sum(secs), 0)
        FROM bucketed
        GROUP BY kind, queue, outcome, le
        ORDER BY kind, queue, outcome, le
        ON CONFLICT (kind, queue, outcome, le) DO UPDATE
        SET n = t.n + excluded.n, seconds = t.seconds + excluded.seconds
    )
    INSERT INTO metric_minutes AS r (slot, minute, completed, failed)
    SELECT m % 1440, m, count(*) FILTER (WHERE state = 'completed'),
           count(*) FILTER (WHERE state IN ('failed', 'dead'))
    FROM (SELECT floor(extract(epoch FROM updated_at) / 60)::bigint AS m, state
          FROM moves
          WHERE old_state = 'processing' AND state IN ('completed', 'failed', 'dead')) AS ended
    GROUP BY m
    ORDER BY m
    ON CONFLICT (slot) DO UPDATE
    SET completed = CASE WHEN r.minute = excluded.minute
                         THEN r.completed + excluded.completed ELSE excluded.completed END,
        failed = CASE WHEN r.minute = excluded.minute
                      THEN r.failed + excluded.failed ELSE excluded.failed END,
        minute = excluded.minute;
    RETURN NULL;
END
$$;

CREATE TRIGGER metrics_moves AFTER UPDATE ON jobs
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_moves();
