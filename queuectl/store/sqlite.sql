-- queuectl's queries for SQLite. postgres.sql has the same names; a test keeps them in step.
-- Parameters are :named. `:queues` / `:states` are JSON arrays (NULL = no filter),
-- expanded with json_each so one prepared statement serves any number of values.

-- name: enqueue_job
INSERT INTO jobs (id, command, queue, priority, max_retries, own_max_retries, timeout,
                  run_at, created_at, updated_at)
VALUES (:id, :command, :queue, :priority,
        COALESCE(:max_retries,
                 (SELECT CAST(value AS INTEGER) FROM config WHERE key = 'max-retries'),
                 :default_max_retries),
        :max_retries, :timeout, COALESCE(:run_at, :now + :delay), :now, :now);

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: list_jobs
SELECT * FROM jobs
WHERE (:queue IS NULL OR queue = :queue)
ORDER BY seq DESC
LIMIT :limit;

-- name: list_jobs_in_state
-- Its own query (not an OR on list_jobs) so the planner walks jobs_state in order.
SELECT * FROM jobs
WHERE state = :state
  AND (:queue IS NULL OR queue = :queue)
ORDER BY seq DESC
LIMIT :limit;

-- name: list_attempts
SELECT * FROM attempts WHERE job_id = :id ORDER BY id;

-- name: count_jobs
SELECT state, count(*) AS n FROM jobs
WHERE (:queue IS NULL OR queue = :queue)
GROUP BY state;

-- name: count_scheduled
SELECT count(*) FROM jobs
WHERE state = 'pending' AND run_at > :now AND (:queue IS NULL OR queue = :queue);

-- name: cancel_waiting_job
UPDATE jobs SET state = 'cancelled', updated_at = :now, cancel_requested = 0
WHERE id = :id AND state IN ('pending', 'failed')
RETURNING state;

-- name: request_cancel
UPDATE jobs SET cancel_requested = 1, updated_at = :now
WHERE id = :id AND state = 'processing'
RETURNING state;

-- name: retry_dead_job
UPDATE jobs
SET state = 'pending', attempts = 0, run_at = :now, updated_at = :now,
    last_error = NULL, exit_code = NULL,
    max_retries = COALESCE(own_max_retries,
                           (SELECT CAST(value AS INTEGER) FROM config WHERE key = 'max-retries'),
                           :default_max_retries)
WHERE state = 'dead' AND (:id IS NULL OR id = :id)
RETURNING id;

-- name: purge_jobs
DELETE FROM jobs
WHERE state IN (SELECT value FROM json_each(:states)) AND updated_at <= :cutoff;

-- name: claim_jobs
-- One statement picks and takes the jobs, inside BEGIN IMMEDIATE: SQLite has one writer
-- at a time, so no two workers can take the same row. The subquery walks jobs_claim in
-- (priority DESC, seq) order and skips jobs not yet due. INDEXED BY: left to itself the
-- planner prefers jobs_state and sorts every waiting job, which is slow at 1M rows.
UPDATE jobs
SET state = 'processing', attempts = attempts + 1, worker_id = :worker_id,
    lease_expires_at = :now + :lease_seconds, updated_at = :now, cancel_requested = 0
WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_claim
    WHERE state IN ('pending', 'failed') AND run_at <= :now
      AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
    ORDER BY priority DESC, seq
    LIMIT :limit)
RETURNING *;

-- name: start_attempt
INSERT INTO attempts (job_id, attempt, worker_id, started_at)
VALUES (:id, :attempt, :worker_id, :now);

-- name: touch_worker
UPDATE workers SET heartbeat_at = :now WHERE id = :worker_id
RETURNING stop_requested;

-- name: extend_leases
-- Only the jobs the worker says it holds: one it lost track of (a claim whose answer
-- never arrived) must expire and be retried, not be renewed forever.
UPDATE jobs SET lease_expires_at = :now + :lease_seconds
WHERE worker_id = :worker_id AND state = 'processing'
  AND id IN (SELECT value FROM json_each(:held))
RETURNING id;

-- name: cancel_orders
SELECT id FROM jobs
WHERE worker_id = :worker_id AND state = 'processing' AND cancel_requested;

-- name: complete_job
-- Every worker-side write is guarded by (id, worker_id, attempts): a worker whose lease
-- expired, and whose job has moved on, changes nothing.
UPDATE jobs
SET state = 'completed', updated_at = :now, worker_id = NULL, lease_expires_at = NULL,
    exit_code = :exit_code, last_error = NULL, cancel_requested = 0
WHERE id = :id AND state = 'processing' AND worker_id = :worker_id AND attempts = :attempt
RETURNING state;

-- name: fail_job
-- A job whose cancel was asked for ends cancelled, not retried, however it failed.
-- :expired_only (reaping a presumed-dead worker's job) re-checks under the write lock
-- that the lease is still expired: a heartbeat since expired_jobs looked wins.
UPDATE jobs
SET state = CASE WHEN cancel_requested THEN 'cancelled'
                 WHEN attempts <= max_retries THEN 'failed' ELSE 'dead' END,
    run_at = CASE WHEN attempts <= max_retries THEN :now + :retry_delay ELSE run_at END,
    updated_at = :now, worker_id = NULL, lease_expires_at = NULL,
    exit_code = :exit_code, last_error = :error, cancel_requested = 0
WHERE id = :id AND state = 'processing' AND worker_id = :worker_id AND attempts = :attempt
  AND (NOT :expired_only OR lease_expires_at < :now)
RETURNING state;

-- name: cancel_running_job
UPDATE jobs
SET state = 'cancelled', updated_at = :now, worker_id = NULL, lease_expires_at = NULL,
    exit_code = :exit_code, last_error = :error, cancel_requested = 0
WHERE id = :id AND state = 'processing' AND worker_id = :worker_id AND attempts = :attempt
RETURNING state;

-- name: release_job
-- Back to pending (the attempt not counted), unless a cancel was asked for meanwhile.
UPDATE jobs
SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END,
    attempts = attempts - 1, run_at = :now, updated_at = :now,
    worker_id = NULL, lease_expires_at = NULL, cancel_requested = 0
WHERE id = :id AND state = 'processing' AND worker_id = :worker_id AND attempts = :attempt
RETURNING state;

-- name: finish_attempt
UPDATE attempts
SET finished_at = :now, exit_code = :exit_code, error = :error,
    stdout = :stdout, stderr = :stderr
WHERE job_id = :id AND attempt = :attempt AND worker_id = :worker_id AND finished_at IS NULL;

-- name: expired_jobs
SELECT * FROM jobs
WHERE state = 'processing' AND lease_expires_at < :now
ORDER BY lease_expires_at
LIMIT :limit;

-- name: has_unfinished_jobs
SELECT EXISTS (
    SELECT 1 FROM jobs
    WHERE state IN ('processing', 'failed')
      AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
) OR EXISTS (
    SELECT 1 FROM jobs
    WHERE state = 'pending' AND run_at <= :now
      AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
);

-- name: get_config
SELECT key, value FROM config;

-- name: set_config
INSERT INTO config (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: reset_config
DELETE FROM config WHERE :key IS NULL OR key = :key;

-- name: register_worker
INSERT INTO workers (id, host, pid, queues, slots, started_at, heartbeat_at)
VALUES (:id, :host, :pid, :queues, :slots, :now, :now)
ON CONFLICT (id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, queues = excluded.queues, slots = excluded.slots,
    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stop_requested = NULL;

-- name: unregister_worker
DELETE FROM workers WHERE id = :worker_id;

-- name: list_workers
SELECT w.*,
       (SELECT json_group_array(j.id) FROM jobs AS j
        WHERE j.worker_id = w.id AND j.state = 'processing') AS running
FROM workers AS w
WHERE :alive_within IS NULL OR w.heartbeat_at >= :now - :alive_within
ORDER BY w.started_at, w.id;

-- name: request_worker_stop
-- A graceful request never downgrades a pending 'now'.
UPDATE workers
SET stop_requested = CASE WHEN :mode = 'now' THEN 'now' ELSE COALESCE(stop_requested, :mode) END
WHERE :ids IS NULL OR id IN (SELECT value FROM json_each(:ids));

-- name: prune_workers
DELETE FROM workers WHERE heartbeat_at < :now - :dead_for;
