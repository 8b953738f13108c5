-- queuectl's queries for SQLite. postgres.sql has the same names; a test keeps them in step.
-- Parameters are :named. `:queues` / `:states` are JSON arrays (NULL = no filter),
-- expanded with json_each so one prepared statement serves any number of values.

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

-- name: query_jobs_newest
-- Listing pages (query_jobs): a range on seq from the cursor, so a deep page costs no
-- more than the first. No state: the table in seq order, filters checked row by row
-- (cost bounded by the page's limit plus the rows skipped).
SELECT * FROM jobs
WHERE seq < COALESCE(:after, 9223372036854775807)
  AND (:queue IS NULL OR queue = :queue)
  AND (:search IS NULL OR instr(command, :search) > 0)
ORDER BY seq DESC
LIMIT :limit;

-- name: query_jobs_oldest
SELECT * FROM jobs
WHERE seq > COALESCE(:after, 0)
  AND (:queue IS NULL OR queue = :queue)
  AND (:search IS NULL OR instr(command, :search) > 0)
ORDER BY seq
LIMIT :limit;

-- name: query_jobs_in_state_newest
-- One state (sqlite.py merges several): a range on jobs_state (state, seq).
-- :scheduled keeps only pending jobs due later.
SELECT * FROM jobs
WHERE state = :state AND seq < COALESCE(:after, 9223372036854775807)
  AND (NOT :scheduled OR run_at > :now)
  AND (:queue IS NULL OR queue = :queue)
  AND (:search IS NULL OR instr(command, :search) > 0)
ORDER BY seq DESC
LIMIT :limit;

-- name: query_jobs_in_state_oldest
SELECT * FROM jobs
WHERE state = :state AND seq > COALESCE(:after, 0)
  AND (NOT :scheduled OR run_at > :now)
  AND (:queue IS NULL OR queue = :queue)
  AND (:search IS NULL OR instr(command, :search) > 0)
ORDER BY seq
LIMIT :limit;

-- name: query_jobs_scheduled
-- Pending jobs due later: read from jobs_pending_run_at (one range per queue), then
-- sorted; the cost follows how many are scheduled, not how many are pending.
SELECT j.* FROM job_counts AS c
CROSS JOIN jobs AS j INDEXED BY jobs_pending_run_at
  ON j.queue = c.queue AND j.state = 'pending' AND j.blockers = 0 AND j.run_at > :now
WHERE c.state = 'pending' AND (:queue IS NULL OR c.queue = :queue)
  AND CASE WHEN :oldest THEN j.seq > COALESCE(:after, 0)
           ELSE j.seq < COALESCE(:after, 9223372036854775807) END
  AND (:search IS NULL OR instr(j.command, :search) > 0)
ORDER BY CASE WHEN :oldest THEN j.seq ELSE -j.seq END
LIMIT :limit;

-- name: query_jobs_blocked
-- Pending jobs waiting for jobs they run after, from their own index (jobs_blocked).
SELECT * FROM jobs INDEXED BY jobs_blocked
WHERE state = 'pending' AND blockers > 0
  AND CASE WHEN :oldest THEN seq > COALESCE(:after, 0)
           ELSE seq < COALESCE(:after, 9223372036854775807) END
  AND (:queue IS NULL OR queue = :queue)
  AND (:search IS NULL OR instr(command, :search) > 0)
ORDER BY CASE WHEN :oldest THEN seq ELSE -seq END
LIMIT :limit;

-- name: query_jobs_by_id_prefix
-- An id prefix is a range on the unique index of id ([:id_low, :id_high) in byte order),
-- then the matches are sorted: a prefix narrows more than any other filter.
SELECT * FROM jobs
WHERE id >= :id_low AND id < :id_high AND substr(id, 1, length(:id_low)) = :id_low
  AND CASE WHEN :oldest THEN seq > COALESCE(:after, 0)
           ELSE seq < COALESCE(:after, 9223372036854775807) END
  AND (:states IS NULL OR state IN (SELECT value FROM json_each(:states))
       OR (:scheduled AND state = 'pending' AND blockers = 0 AND run_at > :now)
       OR (:blocked AND state = 'pending' AND blockers > 0))
  AND (:queue IS NULL OR queue = :queue)
  AND (:search IS NULL OR instr(command, :search) > 0)
ORDER BY CASE WHEN :oldest THEN seq ELSE -seq END
LIMIT :limit;

-- name: list_attempts
SELECT * FROM attempts WHERE job_id = :id ORDER BY id;

-- name: count_jobs
-- job_counts is kept by triggers (migration 0005): no count of the table.
SELECT state, sum(n) AS n FROM job_counts
WHERE (:queue IS NULL OR queue = :queue)
GROUP BY state;

-- name: count_scheduled
-- Per queue, a range on jobs_pending_run_at (queue, run_at): only scheduled rows are read.
-- CROSS JOIN fixes the order (queues first); with a plain JOIN the planner may scan the
-- whole index, one entry per pending job.
SELECT count(*) FROM job_counts AS c
CROSS JOIN jobs AS j INDEXED BY jobs_pending_run_at
  ON j.queue = c.queue AND j.state = 'pending' AND j.blockers = 0 AND j.run_at > :now
WHERE c.state = 'pending' AND (:queue IS NULL OR c.queue = :queue);

-- name: count_blocked
SELECT count(*) FROM jobs INDEXED BY jobs_blocked
WHERE state = 'pending' AND blockers > 0 AND (:queue IS NULL OR queue = :queue);

-- name: queue_stats
-- The earliest pending run_at of a queue is its oldest due job when it is not in the
-- future (one seek on jobs_pending_run_at per queue).
SELECT c.queue, c.state, c.n,
       (SELECT min(j.run_at) FROM jobs AS j
        WHERE c.state = 'pending' AND j.state = 'pending' AND j.queue = c.queue
          AND j.blockers = 0 AND j.run_at <= :now) AS oldest_due_at
FROM job_counts AS c
WHERE c.n > 0
ORDER BY c.queue, c.state;

-- name: get_jobs
-- The jobs an operator's change decides on (queuectl/store/guarded.py).
SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: get_guards
-- What guards an operator's change (sqlite.py checks them under the write lock).
SELECT id, state, last_attempt FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: unique_holders
-- The waiting or running jobs holding these unique keys (jobs_unique_key).
SELECT unique_key, id FROM jobs
WHERE unique_key IN (SELECT value FROM json_each(:keys))
  AND state IN ('pending', 'failed', 'processing');

-- name: job_links
-- The jobs that jobs (:ids) run after, and those that run after them (each edge once).
SELECT parent, child FROM job_after WHERE child IN (SELECT value FROM json_each(:ids))
UNION
SELECT parent, child FROM job_after WHERE parent IN (SELECT value FROM json_each(:ids));

-- name: release_children
-- After jobs (:ids) ended as `:state`: each pending job after them whose mode that end
-- meets waits for one fewer per edge (queuectl.workflow gives the modes). The rows are
-- found from job_after: the unary `+` keeps the planner off jobs_state, which would read
-- every pending job (a fan-in's thousands of parents) at each finish.
UPDATE jobs
SET blockers = blockers - (SELECT count(*) FROM job_after AS a
                           WHERE a.child = jobs.id
                             AND a.parent IN (SELECT value FROM json_each(:ids)))
WHERE +state = 'pending' AND +blockers > 0
  AND after_mode IN (SELECT value FROM json_each(:modes))
  AND id IN (SELECT child FROM job_after WHERE parent IN (SELECT value FROM json_each(:ids)));

-- name: cancel_children
-- ... and each pending job after them whose mode that end can never meet is cancelled,
-- naming the job that caused it; the caller goes on with the jobs cancelled here (found
-- from job_after, as above).
UPDATE jobs
SET state = 'cancelled', blockers = 0, updated_at = :now, cancel_requested = 0,
    cancelled_by = (SELECT min(a.parent) FROM job_after AS a WHERE a.child = jobs.id
                      AND a.parent IN (SELECT value FROM json_each(:ids))),
    last_error = 'after ' || (SELECT min(a.parent) FROM job_after AS a
                              WHERE a.child = jobs.id
                                AND a.parent IN (SELECT value FROM json_each(:ids))) || :note
WHERE +state = 'pending'
  AND after_mode IN (SELECT value FROM json_each(:modes))
  AND id IN (SELECT child FROM job_after WHERE parent IN (SELECT value FROM json_each(:ids)))
RETURNING id;

-- name: lock_parents
-- (SQLite's write lock already keeps every other writer out.)
SELECT NULL WHERE :ids IS NULL;

-- name: recount_blockers
-- Jobs put back to pending: they wait for the jobs they run after that have not ended
-- (an explicit requeue does not wait for ones that already ended).
UPDATE jobs
SET cancelled_by = NULL,
    blockers = (SELECT count(*) FROM job_after AS a JOIN jobs AS p ON p.id = a.parent
                WHERE a.child = jobs.id
                  AND p.state NOT IN (SELECT value FROM json_each(:final)))
WHERE id IN (SELECT value FROM json_each(:ids)) AND after_mode IS NOT NULL
RETURNING id;

-- name: revive_children
-- Jobs cancelled only because one of :ids ended (none of the other jobs they run after
-- ended as their mode never accepts: :never) come back to pending, from scratch.
UPDATE jobs
SET state = 'pending', cancelled_by = NULL, last_error = NULL, exit_code = NULL,
    attempts = 0, run_at = :now, updated_at = :now,
    blockers = (SELECT count(*) FROM job_after AS a JOIN jobs AS p ON p.id = a.parent
                WHERE a.child = jobs.id
                  AND p.state NOT IN (SELECT value FROM json_each(:final)))
WHERE state = 'cancelled' AND after_mode = :mode
  AND cancelled_by IN (SELECT value FROM json_each(:ids))
  AND NOT EXISTS (SELECT 1 FROM job_after AS a JOIN jobs AS p ON p.id = a.parent
                  WHERE a.child = jobs.id
                    AND p.state IN (SELECT value FROM json_each(:never)))
  -- one whose unique key another job took meanwhile stays cancelled
  AND (unique_key IS NULL
       OR NOT EXISTS (SELECT 1 FROM jobs AS h WHERE h.unique_key = jobs.unique_key
                        AND h.state IN ('pending', 'failed', 'processing')))
RETURNING id;

-- name: purge_jobs
DELETE FROM jobs
WHERE state IN (SELECT value FROM json_each(:states)) AND updated_at <= :cutoff;

-- name: purge_jobs_batch
-- Retention: at most :limit jobs of one final state, oldest change first (jobs_ended).
DELETE FROM jobs
WHERE seq IN (SELECT seq FROM jobs INDEXED BY jobs_ended
              WHERE state = :state AND state IN ('completed', 'dead', 'cancelled')
                AND updated_at <= :cutoff
              ORDER BY updated_at LIMIT :limit);

-- name: claim_jobs
-- One statement picks and takes the jobs, inside BEGIN IMMEDIATE: SQLite has one writer
-- at a time, so no two workers can take the same row. The subquery walks jobs_claim in
-- (priority DESC, seq) order and skips jobs not yet due. INDEXED BY: left to itself the
-- planner prefers jobs_state and sorts every waiting job, which is slow at 1M rows.
UPDATE jobs
SET state = 'processing', attempts = attempts + 1, last_attempt = last_attempt + 1,
    worker_id = :worker_id,
    lease_expires_at = :now + :lease_seconds, updated_at = :now, cancel_requested = 0
WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_claim
    WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL
      AND run_at <= :now
      AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
      -- Paused queues (migration 0006; '*' = all): evaluated once, not per row.
      AND queue NOT IN (SELECT queue FROM paused_queues)
      AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE queue = '*')
      -- With a limit in force (migration 0010) nothing is taken here: sqlite.py then
      -- claims through claim_candidates and claim_seqs (queuectl/limits.py decides).
      AND NOT EXISTS (SELECT 1 FROM queue_limits)
      AND NOT EXISTS (SELECT 1 FROM key_limits WHERE jobs > 0)
    ORDER BY priority DESC, seq
    LIMIT :limit)
RETURNING *;

-- name: limits_in_use
SELECT EXISTS (SELECT 1 FROM queue_limits)
       OR EXISTS (SELECT 1 FROM key_limits WHERE jobs > 0) AS used;

-- name: lock_limits
-- (SQLite's write lock already keeps every other claim out.)
SELECT 1;

-- name: store_now
SELECT :now AS now;

-- name: claim_candidates
-- The best claimable jobs but those this claim already took or passed over: claim_jobs'
-- walk of jobs_claim. Jobs parked for a full key or queue (migration 0012) are not in it.
SELECT seq, queue, concurrency_key FROM jobs INDEXED BY jobs_claim
WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL
  AND run_at <= :now
  AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
  AND queue NOT IN (SELECT queue FROM paused_queues)
  AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE queue = '*')
  AND seq NOT IN (SELECT value FROM json_each(:seen))
ORDER BY priority DESC, seq
LIMIT :limit;

-- name: park_for_queue
-- The jobs a limited claim passed over for their full queue leave the claim index until
-- a claim finds room in the queue (unpark_queues).
UPDATE jobs SET parked_on = 'queue'
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND state IN ('pending', 'failed')
  AND parked_on IS NULL;

-- name: park_for_key
-- Those passed over for their full key (the write lock keeps the counters exact).
UPDATE jobs SET parked_on = 'key'
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND state IN ('pending', 'failed')
  AND parked_on IS NULL;

-- name: unpark_queues
-- Up to :limit of a queue's parked jobs, best first, back into the claim index: one
-- queue a statement here (SQLite has no LATERAL join; in-process statements are cheap).
UPDATE jobs SET parked_on = NULL
WHERE seq IN (SELECT seq FROM jobs INDEXED BY jobs_parked_queue
              WHERE parked_on = 'queue' AND queue = :queue
              ORDER BY priority DESC, seq LIMIT :limit);

-- name: unpark_key
-- The key's best parked job, back into the claim index (a claim hands a key's turn on).
UPDATE jobs SET parked_on = NULL
WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_parked_key
             WHERE parked_on = 'key' AND concurrency_key = :key
             ORDER BY priority DESC, seq LIMIT 1);

-- name: unpark_queue_all
UPDATE jobs SET parked_on = NULL WHERE parked_on = 'queue' AND queue = :queue;

-- name: unpark_key_all
UPDATE jobs SET parked_on = NULL WHERE parked_on = 'key' AND concurrency_key = :key;

-- name: claim_seqs
-- Takes the jobs a limited claim chose (under the same write lock that read them).
UPDATE jobs
SET state = 'processing', attempts = attempts + 1, last_attempt = last_attempt + 1,
    worker_id = :worker_id,
    lease_expires_at = :now + :lease_seconds, updated_at = :now, cancel_requested = 0
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND state IN ('pending', 'failed')
RETURNING *;

-- name: queue_limits
SELECT l.*, COALESCE(c.n, 0) AS running FROM queue_limits AS l
LEFT JOIN job_counts AS c ON c.queue = l.queue AND c.state = 'processing'
ORDER BY l.queue;

-- name: set_queue_limit
INSERT INTO queue_limits (queue, concurrency, rate_count, rate_period)
VALUES (:queue, :concurrency, :rate_count, :rate_period)
ON CONFLICT (queue) DO UPDATE
SET concurrency = excluded.concurrency, rate_count = excluded.rate_count,
    rate_period = excluded.rate_period;

-- name: delete_queue_limit
DELETE FROM queue_limits WHERE queue = :queue;

-- name: set_next_start
UPDATE queue_limits SET next_start_at = :at WHERE queue = :queue;

-- name: full_keys
-- Keys at their limit: each has a job running, so the partial index holds few rows.
SELECT * FROM key_limits WHERE running > 0 AND running >= COALESCE(concurrency, 1);

-- name: key_limits
SELECT * FROM key_limits
WHERE :keys IS NULL OR key IN (SELECT value FROM json_each(:keys))
ORDER BY key;

-- name: set_key_limit
INSERT INTO key_limits (key, concurrency) VALUES (:key, :concurrency)
ON CONFLICT (key) DO UPDATE SET concurrency = excluded.concurrency;

-- name: forget_key
DELETE FROM key_limits
WHERE key = :key AND jobs = 0 AND running = 0 AND concurrency IS NULL;

-- name: key_holder
-- A job holding the key (what `show` names when a job waits for it).
SELECT id FROM jobs
WHERE concurrency_key = :key AND state = 'processing'
LIMIT 1;

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

-- name: finish_job
-- Applies a decision of queuectl/rules.py (rules.Finish) to a job its worker holds,
-- guarded by the job as the decision saw it (rules.Held): (id, worker_id, last_attempt)
-- while processing, cancel_requested when the decision read it, and, when reaping, the
-- lease still expired (a heartbeat since expired_jobs looked wins). last_attempt numbers
-- a job's attempts and never repeats, so a worker whose job moved on changes nothing.
UPDATE jobs
SET state = :state, attempts = attempts - :uncounted,
    run_at = COALESCE(:now + :run_after, run_at), updated_at = :now,
    worker_id = NULL, lease_expires_at = NULL, cancel_requested = 0,
    exit_code = CASE WHEN :records_result THEN :exit_code ELSE exit_code END,
    last_error = CASE WHEN :records_result THEN :error ELSE last_error END
WHERE id = :id AND state = 'processing' AND worker_id = :worker_id AND last_attempt = :attempt
  AND (:cancel_requested IS NULL OR cancel_requested = :cancel_requested)
  AND (NOT :expired_only OR lease_expires_at < :now)
RETURNING id, state, dependents;

-- name: finish_attempt
UPDATE attempts
SET finished_at = :now, exit_code = :exit_code, error = :error,
    stdout = :stdout, stderr = :stderr, stdout_bytes = :stdout_bytes, stderr_bytes = :stderr_bytes
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
    WHERE state = 'pending' AND blockers = 0 AND run_at <= :now
      AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
);

-- name: next_due_in
-- When an idle worker looks again: the earliest run_at still ahead among the waiting jobs
-- of its queues, one seek per queue and state (jobs_pending_run_at, jobs_failed_run_at).
SELECT min(at) - :now FROM (
    SELECT (SELECT min(j.run_at) FROM jobs AS j INDEXED BY jobs_pending_run_at
            WHERE j.queue = c.queue AND j.state = 'pending' AND j.blockers = 0
              AND j.run_at > :now) AS at
    FROM job_counts AS c
    WHERE c.state = 'pending' AND c.n > 0
      AND (:queues IS NULL OR c.queue IN (SELECT value FROM json_each(:queues)))
    UNION ALL
    SELECT (SELECT min(j.run_at) FROM jobs AS j INDEXED BY jobs_failed_run_at
            WHERE j.queue = c.queue AND j.state = 'failed' AND j.run_at > :now)
    FROM job_counts AS c
    WHERE c.state = 'failed' AND c.n > 0
      AND (:queues IS NULL OR c.queue IN (SELECT value FROM json_each(:queues)))
    UNION ALL
    -- A rate-limited queue with jobs waiting: when its rate allows the next start.
    SELECT l.next_start_at FROM queue_limits AS l
    WHERE l.rate_count IS NOT NULL AND l.next_start_at > :now
      AND EXISTS (SELECT 1 FROM job_counts AS c WHERE c.queue = l.queue
                    AND c.state IN ('pending', 'failed') AND c.n > 0)
      AND (:queues IS NULL OR l.queue IN (SELECT value FROM json_each(:queues)))
);

-- name: get_config
SELECT key, value FROM config;

-- name: set_config
INSERT INTO config (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: reset_config
DELETE FROM config WHERE :key IS NULL OR key = :key;

-- name: pause_queues
-- Paused queues: claim_jobs skips them ('*' stands for every queue).
INSERT INTO paused_queues (queue, paused_at)
SELECT value, :now FROM json_each(:queues) WHERE true
ON CONFLICT (queue) DO NOTHING;

-- name: resume_queues
DELETE FROM paused_queues
WHERE :queues IS NULL OR queue IN (SELECT value FROM json_each(:queues));

-- name: paused_queues
SELECT queue FROM paused_queues ORDER BY queue;

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
-- :replaces lists the pending requests :mode overrides (rules.stop_request); the others stay.
UPDATE workers
SET stop_requested = CASE WHEN stop_requested IS NULL
                            OR stop_requested IN (SELECT value FROM json_each(:replaces))
                          THEN :mode ELSE stop_requested END
WHERE :ids IS NULL OR id IN (SELECT value FROM json_each(:ids));

-- name: prune_workers
DELETE FROM workers WHERE heartbeat_at < :now - :dead_for;

-- Observability (live output, throughput, DLQ groups, metrics): see migration 0004.

-- name: publish_output
-- A running attempt's output so far; only while its worker's attempt is still open.
UPDATE attempts
SET stdout = :stdout, stderr = :stderr, stdout_bytes = :stdout_bytes, stderr_bytes = :stderr_bytes
WHERE job_id = :id AND attempt = :attempt AND worker_id = :worker_id AND finished_at IS NULL;

-- name: get_attempt
-- The latest run of attempt :attempt (numbers repeat after a DLQ retry), or the latest.
SELECT * FROM attempts
WHERE job_id = :id AND (:attempt IS NULL OR attempt = :attempt)
ORDER BY id DESC
LIMIT 1;

-- name: metric_buckets
SELECT le FROM metric_buckets ORDER BY le;

-- name: metric_samples
SELECT kind, queue, outcome, le, n, seconds FROM metric_observations
ORDER BY kind, queue, outcome, le;

-- name: throughput
-- Runs ended per minute since :since (epoch seconds), from the ring kept by migration 0004.
SELECT minute * 60 AS start, completed, failed FROM metric_minutes
WHERE minute * 60 >= :since
ORDER BY minute;

-- name: dead_groups
-- Dead jobs by how they ended, largest group first, each with its newest job.
WITH grouped AS (
    -- INDEXED BY: without statistics the planner takes jobs_state and sorts (20x slower).
    SELECT last_error, exit_code, count(*) AS n, max(seq) AS newest_seq
    FROM jobs INDEXED BY jobs_dead_error WHERE state = 'dead'
    GROUP BY last_error, exit_code
)
SELECT g.last_error AS error, g.exit_code, g.n, j.id AS newest_job_id
FROM grouped AS g JOIN jobs AS j ON j.seq = g.newest_seq
ORDER BY g.n DESC, g.newest_seq DESC;

-- name: dead_group_ids
SELECT id FROM jobs
WHERE state = 'dead' AND last_error IS :error AND exit_code IS :exit_code
ORDER BY seq;

-- name: get_records
SELECT name, value, version FROM records WHERE kind = :kind ORDER BY name;

-- name: insert_record
-- Only when absent: a second writer's insert adds nothing (and says so: no row).
INSERT INTO records (kind, name, value, version) VALUES (:kind, :name, :value, 1)
ON CONFLICT (kind, name) DO NOTHING
RETURNING version;

-- name: update_record
UPDATE records SET value = :value, version = version + 1
WHERE kind = :kind AND name = :name AND version = :version
RETURNING version;

-- name: delete_record
DELETE FROM records WHERE kind = :kind AND name = :name;
