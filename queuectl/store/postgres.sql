-- queuectl's queries for PostgreSQL. sqlite.sql has the same names; a test keeps them in step.
-- Parameters are %(named)s (psycopg). Lists (`queues`, `states`, `ids`) are text[] arrays
-- (NULL = no filter). Nullable parameters carry a cast: psycopg binds them server-side and
-- `$1 IS NULL` alone leaves the server unable to tell their type.
-- Times: every "now" is the server's now() (the transaction's start time), never the
-- client's clock, so hosts with skewed clocks agree. Durations arrive as float seconds.

-- name: enqueue_job
-- A whole enqueue is one statement: the columns arrive as arrays and unnest turns them
-- back into rows, in the caller's order (so seq follows it). ON CONFLICT DO NOTHING plus
-- RETURNING tells which ids were taken without aborting (also against a concurrent
-- enqueue of the same id); postgres.py then names the first one and rolls back.
INSERT INTO jobs (id, command, queue, priority, max_retries, own_max_retries, timeout,
                  run_at, created_at, updated_at, keep_daemons, cwd, env, after_mode,
                  blockers, dependents, concurrency_key, unique_key)
SELECT n.id, n.command, n.queue, n.priority,
       COALESCE(n.max_retries, %(default_max_retries)s),
       n.max_retries, n.timeout,
       COALESCE(to_timestamp(n.run_at), now() + make_interval(secs => n.delay)),
       now(), now(), n.keep_daemons, n.cwd, n.env::jsonb, n.after_mode, n.blockers,
       n.dependents, n.concurrency_key, n.unique_key
FROM unnest(%(ids)s::text[], %(commands)s::text[], %(queues)s::text[],
            %(priorities)s::bigint[], %(max_retries)s::bigint[], %(timeouts)s::float8[],
            %(run_ats)s::float8[], %(delays)s::float8[], %(keep_daemons)s::boolean[],
            %(cwds)s::text[], %(envs)s::text[], %(after_modes)s::text[],
            %(blockers)s::integer[], %(dependents)s::integer[],
            %(concurrency_keys)s::text[], %(unique_keys)s::text[])
     WITH ORDINALITY
     AS n (id, command, queue, priority, max_retries, timeout, run_at, delay, keep_daemons,
           cwd, env, after_mode, blockers, dependents, concurrency_key, unique_key, ord)
ORDER BY n.ord
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: get_job
SELECT * FROM jobs WHERE id = %(id)s;

-- name: list_jobs
SELECT * FROM jobs
WHERE (%(queue)s::text IS NULL OR queue = %(queue)s::text)
ORDER BY seq DESC
LIMIT %(limit)s::bigint;  -- LIMIT NULL: no limit

-- name: list_jobs_in_state
-- Its own query (not an OR on list_jobs) so the planner walks jobs_state in order.
SELECT * FROM jobs
WHERE state = %(state)s
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
ORDER BY seq DESC
LIMIT %(limit)s::bigint;

-- name: query_jobs_newest
-- Listing pages (query_jobs): a range on seq from the cursor, so a deep page costs no
-- more than the first. No state: the table in seq order, filters checked row by row
-- (cost bounded by the page's limit plus the rows skipped).
SELECT * FROM jobs
WHERE seq < COALESCE(%(after)s::bigint, 9223372036854775807)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(search)s::text IS NULL OR strpos(command, %(search)s::text) > 0)
ORDER BY seq DESC
LIMIT %(limit)s::bigint;

-- name: query_jobs_oldest
SELECT * FROM jobs
WHERE seq > COALESCE(%(after)s::bigint, 0)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(search)s::text IS NULL OR strpos(command, %(search)s::text) > 0)
ORDER BY seq
LIMIT %(limit)s::bigint;

-- name: query_jobs_in_state_newest
-- Several states in one statement: for each, a range on jobs_state (state, seq) taking
-- at most `limit` rows, then the best `limit` of them. "scheduled" reads pending jobs
-- due later.
SELECT j.* FROM unnest(%(states)s::text[]) AS s (name)
CROSS JOIN LATERAL (
    SELECT * FROM jobs
    WHERE state = CASE WHEN s.name = 'scheduled' THEN 'pending' ELSE s.name END
      AND (s.name <> 'scheduled' OR (blockers = 0 AND run_at > now()))
      AND seq < COALESCE(%(after)s::bigint, 9223372036854775807)
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND (%(search)s::text IS NULL OR strpos(command, %(search)s::text) > 0)
    ORDER BY seq DESC
    LIMIT %(limit)s::bigint
) AS j
ORDER BY j.seq DESC
LIMIT %(limit)s::bigint;

-- name: query_jobs_in_state_oldest
SELECT j.* FROM unnest(%(states)s::text[]) AS s (name)
CROSS JOIN LATERAL (
    SELECT * FROM jobs
    WHERE state = CASE WHEN s.name = 'scheduled' THEN 'pending' ELSE s.name END
      AND (s.name <> 'scheduled' OR (blockers = 0 AND run_at > now()))
      AND seq > COALESCE(%(after)s::bigint, 0)
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND (%(search)s::text IS NULL OR strpos(command, %(search)s::text) > 0)
    ORDER BY seq
    LIMIT %(limit)s::bigint
) AS j
ORDER BY j.seq
LIMIT %(limit)s::bigint;

-- name: query_jobs_scheduled
-- Pending jobs due later: read from jobs_pending_run_at (one range per queue), then
-- sorted; the cost follows how many are scheduled, not how many are pending.
SELECT j.* FROM job_counts AS c
JOIN jobs AS j ON j.queue = c.queue AND j.state = 'pending' AND j.blockers = 0
                 AND j.run_at > now()
WHERE c.state = 'pending' AND (%(queue)s::text IS NULL OR c.queue = %(queue)s::text)
  AND CASE WHEN %(oldest)s::boolean THEN j.seq > COALESCE(%(after)s::bigint, 0)
           ELSE j.seq < COALESCE(%(after)s::bigint, 9223372036854775807) END
  AND (%(search)s::text IS NULL OR strpos(j.command, %(search)s::text) > 0)
ORDER BY CASE WHEN %(oldest)s::boolean THEN j.seq ELSE -j.seq END
LIMIT %(limit)s::bigint;

-- name: query_jobs_blocked
-- Pending jobs waiting for jobs they run after, from their own index (jobs_blocked).
SELECT * FROM jobs
WHERE state = 'pending' AND blockers > 0
  AND CASE WHEN %(oldest)s::boolean THEN seq > COALESCE(%(after)s::bigint, 0)
           ELSE seq < COALESCE(%(after)s::bigint, 9223372036854775807) END
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(search)s::text IS NULL OR strpos(command, %(search)s::text) > 0)
ORDER BY CASE WHEN %(oldest)s::boolean THEN seq ELSE -seq END
LIMIT %(limit)s::bigint;

-- name: query_jobs_by_id_prefix
-- An id prefix is a range on the unique index of id, [id_low, id_high) (exact under
-- the C collations; left() keeps any other exact), then the matches are sorted.
SELECT * FROM jobs
WHERE id >= %(id_low)s::text AND id < %(id_high)s::text
  AND left(id, length(%(id_low)s::text)) = %(id_low)s::text
  AND CASE WHEN %(oldest)s::boolean THEN seq > COALESCE(%(after)s::bigint, 0)
           ELSE seq < COALESCE(%(after)s::bigint, 9223372036854775807) END
  AND (%(states)s::text[] IS NULL OR state = ANY (%(states)s::text[])
       OR ('scheduled' = ANY (%(states)s::text[]) AND state = 'pending' AND blockers = 0
           AND run_at > now())
       OR ('blocked' = ANY (%(states)s::text[]) AND state = 'pending' AND blockers > 0))
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(search)s::text IS NULL OR strpos(command, %(search)s::text) > 0)
ORDER BY CASE WHEN %(oldest)s::boolean THEN seq ELSE -seq END
LIMIT %(limit)s::bigint;

-- name: list_attempts
SELECT * FROM attempts WHERE job_id = %(id)s ORDER BY id;

-- name: count_jobs
-- job_counts is kept by triggers (migration 0005): no count of the table.
SELECT state, sum(n)::bigint AS n FROM job_counts
WHERE (%(queue)s::text IS NULL OR queue = %(queue)s::text)
GROUP BY state;

-- name: count_scheduled
-- Per queue, a range on jobs_pending_run_at (queue, run_at): only scheduled rows are read.
SELECT count(*) AS n FROM job_counts AS c
JOIN jobs AS j ON j.queue = c.queue AND j.state = 'pending' AND j.blockers = 0
                 AND j.run_at > now()
WHERE c.state = 'pending' AND (%(queue)s::text IS NULL OR c.queue = %(queue)s::text);

-- name: count_blocked
SELECT count(*) AS n FROM jobs
WHERE state = 'pending' AND blockers > 0
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text);

-- name: queue_stats
-- The earliest pending run_at of a queue is its oldest due job when it is not in the
-- future (one seek on jobs_pending_run_at per queue).
SELECT c.queue, c.state, c.n,
       extract(epoch FROM (SELECT min(j.run_at) FROM jobs AS j
                           WHERE c.state = 'pending' AND j.state = 'pending'
                             AND j.queue = c.queue AND j.blockers = 0
                             AND j.run_at <= now()))::float8
           AS oldest_due_at
FROM job_counts AS c
WHERE c.n > 0
ORDER BY c.queue, c.state;

-- name: get_jobs
-- The jobs an operator's change decides on (queuectl/store/guarded.py): not locked, since
-- the change is written guarded by the state and attempt read here.
SELECT * FROM jobs WHERE id = ANY (%(ids)s::text[]);

-- name: get_guards
-- (SQLite's name; PostgreSQL guards each change in its own statement, see sql_changes.py.)
SELECT id, state, last_attempt FROM jobs WHERE id = ANY (%(ids)s::text[]);

-- name: job_states
-- The jobs an enqueue names in `after`, locked until it commits (a finish of one of them
-- waits, then sees the new jobs after it), their dependents counted up in the same step.
UPDATE jobs AS j SET dependents = j.dependents + d.n
FROM unnest(%(ids)s::text[], %(counts)s::integer[]) AS d (id, n)
WHERE j.id = d.id
RETURNING j.id, j.state;

-- name: insert_after
INSERT INTO job_after (parent, child)
SELECT * FROM unnest(%(parents)s::text[], %(children)s::text[]);

-- name: lock_unique_keys
-- Enqueues of the same unique keys take turns (until commit), so the holders read next
-- stay true until the insert; jobs_unique_key guards as well (a requeue takes no lock).
SELECT pg_advisory_xact_lock(hashtext('queuectl unique'), hashtext(k))
FROM unnest(%(keys)s::text[]) AS k;

-- name: unique_holders
-- The waiting or running jobs holding these unique keys (jobs_unique_key).
SELECT unique_key, id FROM jobs
WHERE unique_key = ANY (%(keys)s::text[]) AND state IN ('pending', 'failed', 'processing');

-- name: job_links
-- The jobs that jobs (ids) run after, and those that run after them (each edge once).
SELECT parent, child FROM job_after WHERE child = ANY(%(ids)s::text[])
UNION
SELECT parent, child FROM job_after WHERE parent = ANY(%(ids)s::text[]);

-- name: release_after
-- Release or cancel the jobs after jobs that ended (queuectl_release, migration 0009).
SELECT queuectl_release(%(ids)s::text[], %(states)s::text[], %(rules)s::jsonb);

-- name: lock_parents
-- Before a requeue recounts what jobs wait for: lock the jobs they run after, so a finish
-- of one of them either commits first (and is counted as ended) or waits for the requeue
-- (and then counts it down).
SELECT p.id FROM jobs AS p
WHERE p.id IN (SELECT a.parent FROM job_after AS a
               WHERE a.child = ANY (%(ids)s::text[])
                  OR a.child IN (SELECT c.id FROM jobs AS c
                                 WHERE c.cancelled_by = ANY (%(ids)s::text[])))
ORDER BY p.id
FOR SHARE;

-- name: recount_blockers
UPDATE jobs AS j
SET cancelled_by = NULL,
    blockers = (SELECT count(*) FROM job_after AS a JOIN jobs AS p ON p.id = a.parent
                WHERE a.child = j.id AND NOT p.state = ANY (%(final)s::text[]))
WHERE j.id = ANY (%(ids)s::text[]) AND j.after_mode IS NOT NULL
RETURNING j.id;

-- name: revive_children
UPDATE jobs AS j
SET state = 'pending', cancelled_by = NULL, last_error = NULL, exit_code = NULL,
    attempts = 0, run_at = now(), updated_at = now(),
    blockers = (SELECT count(*) FROM job_after AS a JOIN jobs AS p ON p.id = a.parent
                WHERE a.child = j.id AND NOT p.state = ANY (%(final)s::text[]))
WHERE j.state = 'cancelled' AND j.after_mode = %(mode)s::text
  AND j.cancelled_by = ANY (%(ids)s::text[])
  AND NOT EXISTS (SELECT 1 FROM job_after AS a JOIN jobs AS p ON p.id = a.parent
                  WHERE a.child = j.id AND p.state = ANY (%(never)s::text[]))
  -- one whose unique key another job took meanwhile stays cancelled
  AND (j.unique_key IS NULL
       OR NOT EXISTS (SELECT 1 FROM jobs AS h WHERE h.unique_key = j.unique_key
                        AND h.state IN ('pending', 'failed', 'processing')))
  AND %(now)s::float8 IS NOT NULL
RETURNING j.id;

-- name: purge_jobs
-- Attempts go with their job (ON DELETE CASCADE).
DELETE FROM jobs
WHERE state = ANY (%(states)s::text[])
  AND updated_at <= now() - make_interval(secs => %(older_than)s);

-- name: purge_jobs_batch
-- Retention: at most `limit` jobs of one final state, oldest change first (jobs_ended).
DELETE FROM jobs
WHERE seq IN (SELECT seq FROM jobs
              WHERE state = %(state)s AND updated_at <= now() - make_interval(secs => %(older_than)s)
              ORDER BY updated_at LIMIT %(limit)s);

-- name: claim_jobs
-- One statement, one round trip. `picked` walks jobs_claim in (priority DESC, seq) order
-- and locks the rows it takes; SKIP LOCKED steps over rows another claimer holds instead
-- of waiting for it, and a row that a concurrent claim already moved fails the WHERE
-- re-check, so no job is ever handed out twice. `claimed` moves them to processing and
-- `started` opens their attempt records in the same statement.
WITH picked AS (
    SELECT seq FROM jobs
    WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL
      AND run_at <= now()
      AND (%(queues)s::text[] IS NULL OR queue = ANY (%(queues)s::text[]))
      -- Paused queues (migration 0006; '*' = all): a hashed subplan, not a per-row lookup.
      AND queue NOT IN (SELECT queue FROM paused_queues)
      AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE queue = '*')
      -- With a limit in force (migration 0012) nothing is taken here: postgres_limits.py
      -- then claims under a lock through claim_candidates and claim_seqs.
      AND NOT EXISTS (SELECT 1 FROM queue_limits)
      AND NOT EXISTS (SELECT 1 FROM key_limits WHERE jobs > 0)
    ORDER BY priority DESC, seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs AS j
    SET state = 'processing', attempts = j.attempts + 1, last_attempt = j.last_attempt + 1,
        worker_id = %(worker_id)s,
        lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
        updated_at = now(), cancel_requested = false
    FROM picked
    WHERE j.seq = picked.seq
    RETURNING j.*
), started AS (
    INSERT INTO attempts (job_id, attempt, worker_id, started_at)
    SELECT id, last_attempt, %(worker_id)s, now() FROM claimed
)
SELECT * FROM claimed ORDER BY priority DESC, seq;

-- name: limits_in_use
-- Then a limited claim serialises with every other limited claim (a transaction lock of
-- this database) before reading any counter: the statements after it see every claim
-- and finish committed before it.
SELECT EXISTS (SELECT 1 FROM queue_limits)
       OR EXISTS (SELECT 1 FROM key_limits WHERE jobs > 0) AS used;

-- name: lock_limits
SELECT pg_advisory_xact_lock(7514201);

-- name: store_now
SELECT extract(epoch FROM now())::float8 AS now;

-- name: claim_candidates
-- The best claimable jobs but those this claim already took or passed over: claim_jobs'
-- walk of jobs_claim. Jobs parked for a full key or queue (migration 0015) are not in it.
SELECT seq, queue, concurrency_key FROM jobs
WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL
  AND run_at <= now()
  AND (%(queues)s::text[] IS NULL OR queue = ANY (%(queues)s::text[]))
  AND queue NOT IN (SELECT queue FROM paused_queues)
  AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE queue = '*')
  AND seq <> ALL (%(seen)s::bigint[])
ORDER BY priority DESC, seq
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: park_for_queue
-- The jobs a limited claim passed over for their full queue leave the claim index until
-- a claim finds room in the queue (unpark_queues).
UPDATE jobs SET parked_on = 'queue'
WHERE seq = ANY (%(seqs)s::bigint[]) AND state IN ('pending', 'failed') AND parked_on IS NULL;

-- name: park_for_key
-- Those passed over for their full key, while the key's row, locked, still says it is
-- full (after this claim's own jobs counted): a finish that freed a slot meanwhile is seen
-- here, and one that frees it later waits for this lock and then finds them parked.
UPDATE jobs SET parked_on = 'key'
WHERE seq = ANY (%(seqs)s::bigint[]) AND state IN ('pending', 'failed') AND parked_on IS NULL
  AND concurrency_key IN (SELECT key FROM key_limits
                          WHERE key = ANY (%(keys)s::text[])
                            AND running >= COALESCE(concurrency, 1)
                          FOR UPDATE);

-- name: unpark_queues
-- For each limited queue with room, up to that many of its parked jobs, best first.
UPDATE jobs SET parked_on = NULL
WHERE seq IN (SELECT p.seq
              FROM unnest(%(queues)s::text[], %(rooms)s::integer[]) AS u (queue, room)
              CROSS JOIN LATERAL (
                  SELECT seq FROM jobs
                  WHERE parked_on = 'queue' AND queue = u.queue
                  ORDER BY priority DESC, seq LIMIT u.room) AS p);

-- name: unpark_key
-- The key's best parked job, back into the claim index (a claim hands a key's turn on).
UPDATE jobs SET parked_on = NULL
WHERE seq = (SELECT seq FROM jobs
             WHERE parked_on = 'key' AND concurrency_key = %(key)s
             ORDER BY priority DESC, seq LIMIT 1
             FOR UPDATE SKIP LOCKED);

-- name: unpark_queue_all
UPDATE jobs SET parked_on = NULL WHERE parked_on = 'queue' AND queue = %(queue)s;

-- name: unpark_key_all
UPDATE jobs SET parked_on = NULL WHERE parked_on = 'key' AND concurrency_key = %(key)s;

-- name: claim_seqs
WITH claimed AS (
    UPDATE jobs AS j
    SET state = 'processing', attempts = j.attempts + 1, last_attempt = j.last_attempt + 1,
        worker_id = %(worker_id)s,
        lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
        updated_at = now(), cancel_requested = false
    WHERE j.seq = ANY (%(seqs)s::bigint[]) AND j.state IN ('pending', 'failed')
    RETURNING j.*
), started AS (
    INSERT INTO attempts (job_id, attempt, worker_id, started_at)
    SELECT id, last_attempt, %(worker_id)s, now() FROM claimed
)
SELECT * FROM claimed ORDER BY priority DESC, seq;

-- name: queue_limits
SELECT l.queue, l.concurrency, l.rate_count, l.rate_period,
       extract(epoch FROM l.next_start_at)::float8 AS next_start_at,
       COALESCE(c.n, 0) AS running, extract(epoch FROM now())::float8 AS now
FROM queue_limits AS l
LEFT JOIN job_counts AS c ON c.queue = l.queue AND c.state = 'processing'
ORDER BY l.queue;

-- name: set_queue_limit
INSERT INTO queue_limits (queue, concurrency, rate_count, rate_period)
VALUES (%(queue)s, %(concurrency)s::integer, %(rate_count)s::integer, %(rate_period)s::float8)
ON CONFLICT (queue) DO UPDATE
SET concurrency = excluded.concurrency, rate_count = excluded.rate_count,
    rate_period = excluded.rate_period;

-- name: delete_queue_limit
DELETE FROM queue_limits WHERE queue = %(queue)s;

-- name: set_next_start
UPDATE queue_limits SET next_start_at = to_timestamp(%(at)s) WHERE queue = %(queue)s;

-- name: full_keys
SELECT * FROM key_limits WHERE running > 0 AND running >= COALESCE(concurrency, 1);

-- name: key_limits
SELECT * FROM key_limits
WHERE %(keys)s::text[] IS NULL OR key = ANY (%(keys)s::text[])
ORDER BY key;

-- name: set_key_limit
INSERT INTO key_limits (key, concurrency) VALUES (%(key)s, %(concurrency)s::integer)
ON CONFLICT (key) DO UPDATE SET concurrency = excluded.concurrency;

-- name: forget_key
DELETE FROM key_limits
WHERE key = %(key)s AND jobs = 0 AND running = 0 AND concurrency IS NULL;

-- name: key_holder
SELECT id FROM jobs
WHERE concurrency_key = %(key)s AND state = 'processing'
LIMIT 1;

-- name: start_attempt
-- Not run on its own here: claim_jobs inserts the attempt rows in its own statement
-- (the `started` step). Kept, as the same insert, so both dialects name the same steps.
INSERT INTO attempts (job_id, attempt, worker_id, started_at)
VALUES (%(id)s, %(attempt)s, %(worker_id)s, now());

-- name: touch_worker
UPDATE workers SET heartbeat_at = now() WHERE id = %(worker_id)s
RETURNING stop_requested;

-- name: extend_leases
-- Only the jobs the worker says it holds: one it lost track of (a claim whose answer
-- never arrived) must expire and be retried, not be renewed forever.
UPDATE jobs SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
WHERE worker_id = %(worker_id)s AND state = 'processing' AND id = ANY(%(held)s)
RETURNING id;

-- name: cancel_orders
SELECT id FROM jobs
WHERE worker_id = %(worker_id)s AND state = 'processing' AND cancel_requested;

-- name: finish_jobs
-- Applies decisions of queuectl/rules.py (rules.Finish), one row of the arrays per job
-- (a worker's batch of results, or one), each guarded by the job as its decision saw it
-- (rules.Held): (id, worker_id, last_attempt) while processing, cancel_requested when
-- the decision read it, and, when reaping, the lease still expired (a heartbeat since
-- expired_jobs looked wins). last_attempt numbers a job's attempts and never repeats, so
-- a worker whose job moved on changes nothing. Moving the jobs and closing their attempt
-- records is one statement: one round trip, and the counting triggers take their rows
-- once, in key order, so two workers' batches cannot lock them crosswise.
WITH batch AS (
    SELECT * FROM unnest(
        %(id)s::text[], %(worker_id)s::text[], %(attempt)s::integer[],
        %(cancel_requested)s::boolean[], %(expired_only)s::boolean[], %(state)s::text[],
        %(run_after)s::float8[], %(uncounted)s::integer[], %(records_result)s::boolean[],
        %(exit_code)s::integer[], %(error)s::text[], %(stdout)b::bytea[],
        %(stderr)b::bytea[], %(stdout_bytes)s::bigint[], %(stderr_bytes)s::bigint[]
    ) AS b (id, worker_id, attempt, cancel_requested, expired_only, state, run_after,
            uncounted, records_result, exit_code, error, stdout, stderr, stdout_bytes,
            stderr_bytes)
), moved AS (
    UPDATE jobs AS j
    SET state = b.state, attempts = j.attempts - b.uncounted,
        run_at = COALESCE(now() + make_interval(secs => b.run_after), j.run_at),
        updated_at = now(), worker_id = NULL, lease_expires_at = NULL,
        cancel_requested = false,
        exit_code = CASE WHEN b.records_result THEN b.exit_code ELSE j.exit_code END,
        last_error = CASE WHEN b.records_result THEN b.error ELSE j.last_error END
    FROM batch AS b
    WHERE j.id = b.id AND j.state = 'processing' AND j.worker_id = b.worker_id
      AND j.last_attempt = b.attempt
      AND (b.cancel_requested IS NULL OR j.cancel_requested = b.cancel_requested)
      AND (NOT b.expired_only OR j.lease_expires_at < now())
    RETURNING j.id, j.state, j.dependents
), closed AS (
    UPDATE attempts AS a
    SET finished_at = now(), exit_code = b.exit_code, error = b.error,
        stdout = b.stdout, stderr = b.stderr,
        stdout_bytes = b.stdout_bytes, stderr_bytes = b.stderr_bytes
    FROM batch AS b JOIN moved AS m ON m.id = b.id
    WHERE a.job_id = b.id AND a.attempt = b.attempt AND a.worker_id = b.worker_id
      AND a.finished_at IS NULL
), released AS (
    -- The jobs after those that ended (queuectl_release, migration 0009), in this same
    -- statement: a crash can never leave them blocked on a job that has ended.
    SELECT queuectl_release(array_agg(id), array_agg(state), %(after_rules)s::jsonb) AS n
    FROM moved WHERE dependents > 0 AND state = ANY (%(final)s::text[])
    HAVING count(*) > 0  -- no job after any of them (most finishes): no call at all
)
SELECT id, (SELECT n FROM released) AS cancelled FROM moved;

-- name: expired_jobs
SELECT * FROM jobs
WHERE state = 'processing' AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT %(limit)s;

-- name: has_unfinished_jobs
SELECT EXISTS (
    SELECT 1 FROM jobs
    WHERE state IN ('processing', 'failed')
      AND (%(queues)s::text[] IS NULL OR queue = ANY (%(queues)s::text[]))
) OR EXISTS (
    SELECT 1 FROM jobs
    WHERE state = 'pending' AND blockers = 0 AND run_at <= now()
      AND (%(queues)s::text[] IS NULL OR queue = ANY (%(queues)s::text[]))
) AS unfinished;

-- name: next_due_in
-- When an idle worker looks again: the earliest run_at still ahead among the waiting jobs
-- of its queues, one seek per queue and state (jobs_pending_run_at, jobs_failed_run_at).
SELECT extract(epoch FROM min(at) - now())::float8 AS due_in FROM (
    SELECT (SELECT min(j.run_at) FROM jobs AS j
            WHERE j.queue = c.queue AND j.state = 'pending' AND j.blockers = 0
              AND j.run_at > now()) AS at
    FROM job_counts AS c
    WHERE c.state = 'pending' AND c.n > 0
      AND (%(queues)s::text[] IS NULL OR c.queue = ANY (%(queues)s::text[]))
    UNION ALL
    SELECT (SELECT min(j.run_at) FROM jobs AS j
            WHERE j.queue = c.queue AND j.state = 'failed' AND j.run_at > now())
    FROM job_counts AS c
    WHERE c.state = 'failed' AND c.n > 0
      AND (%(queues)s::text[] IS NULL OR c.queue = ANY (%(queues)s::text[]))
    UNION ALL
    -- A rate-limited queue with jobs waiting: when its rate allows the next start.
    SELECT l.next_start_at FROM queue_limits AS l
    WHERE l.rate_count IS NOT NULL AND l.next_start_at > now()
      AND EXISTS (SELECT 1 FROM job_counts AS c WHERE c.queue = l.queue
                    AND c.state IN ('pending', 'failed') AND c.n > 0)
      AND (%(queues)s::text[] IS NULL OR l.queue = ANY (%(queues)s::text[]))
) AS ahead;

-- name: get_config
SELECT key, value FROM config;

-- name: set_config
INSERT INTO config (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: reset_config
DELETE FROM config WHERE %(key)s::text IS NULL OR key = %(key)s::text;

-- name: pause_queues
-- Paused queues: claim_jobs skips them ('*' stands for every queue).
INSERT INTO paused_queues (queue)
SELECT unnest(%(queues)s::text[])
ON CONFLICT (queue) DO NOTHING;

-- name: resume_queues
DELETE FROM paused_queues
WHERE %(queues)s::text[] IS NULL OR queue = ANY (%(queues)s::text[]);

-- name: paused_queues
SELECT queue FROM paused_queues ORDER BY queue;

-- name: register_worker
INSERT INTO workers (id, host, pid, queues, slots, started_at, heartbeat_at)
VALUES (%(id)s, %(host)s, %(pid)s, %(queues)s::text[], %(slots)s, now(), now())
-- Registering an id again replaces the worker whole (a restart under the same id).
ON CONFLICT (id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, queues = excluded.queues, slots = excluded.slots,
    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stop_requested = NULL;

-- name: unregister_worker
DELETE FROM workers WHERE id = %(worker_id)s;

-- name: list_workers
SELECT w.*,
       ARRAY(SELECT j.id FROM jobs AS j
             WHERE j.worker_id = w.id AND j.state = 'processing'
             ORDER BY j.seq) AS running
FROM workers AS w
WHERE %(alive_within)s::float8 IS NULL
   OR w.heartbeat_at >= now() - make_interval(secs => %(alive_within)s::float8)
ORDER BY w.started_at, w.id;

-- name: request_worker_stop
-- %(replaces)s lists the pending requests the mode overrides (rules.stop_request).
UPDATE workers
SET stop_requested = CASE WHEN stop_requested IS NULL
                            OR stop_requested = ANY (%(replaces)s::text[])
                          THEN %(mode)s::text ELSE stop_requested END
WHERE %(ids)s::text[] IS NULL OR id = ANY (%(ids)s::text[]);

-- name: prune_workers
DELETE FROM workers WHERE heartbeat_at < now() - make_interval(secs => %(dead_for)s);

-- Observability (live output, throughput, DLQ groups, metrics): see migration 0004.

-- name: publish_output
-- A running attempt's output so far; only while its worker's attempt is still open.
UPDATE attempts
SET stdout = %(stdout)s, stderr = %(stderr)s,
    stdout_bytes = %(stdout_bytes)s, stderr_bytes = %(stderr_bytes)s
WHERE job_id = %(id)s AND attempt = %(attempt)s AND worker_id = %(worker_id)s
  AND finished_at IS NULL;

-- name: get_attempt
-- The latest run of attempt %(attempt)s (numbers repeat after a DLQ retry), or the latest.
SELECT * FROM attempts
WHERE job_id = %(id)s AND (%(attempt)s::integer IS NULL OR attempt = %(attempt)s::integer)
ORDER BY id DESC
LIMIT 1;

-- name: metric_buckets
SELECT le FROM metric_buckets ORDER BY le;

-- name: metric_samples
SELECT kind, queue, outcome, le, n, seconds FROM metric_observations
ORDER BY kind, queue, outcome, le;

-- name: throughput
-- Runs ended per minute since %(since)s (epoch seconds), from the ring of migration 0004.
SELECT (minute * 60)::float8 AS start, completed, failed FROM metric_minutes
WHERE minute * 60 >= %(since)s::float8
ORDER BY minute;

-- name: dead_groups
-- Dead jobs by how they ended, largest group first, each with its newest job.
WITH grouped AS (
    SELECT last_error, exit_code, count(*) AS n, max(seq) AS newest_seq
    FROM jobs WHERE state = 'dead'
    GROUP BY last_error, exit_code
)
SELECT g.last_error AS error, g.exit_code, g.n, j.id AS newest_job_id
FROM grouped AS g JOIN jobs AS j ON j.seq = g.newest_seq
ORDER BY g.n DESC, g.newest_seq DESC;

-- name: dead_group_ids
SELECT id FROM jobs
WHERE state = 'dead' AND last_error IS NOT DISTINCT FROM %(error)s::text
  AND exit_code IS NOT DISTINCT FROM %(exit_code)s::integer
ORDER BY seq;

-- name: get_records
SELECT name, value, version FROM records WHERE kind = %(kind)s ORDER BY name;

-- name: insert_record
INSERT INTO records (kind, name, value, version) VALUES (%(kind)s, %(name)s, %(value)s, 1)
ON CONFLICT (kind, name) DO NOTHING
RETURNING version;

-- name: update_record
UPDATE records SET value = %(value)s, version = version + 1
WHERE kind = %(kind)s AND name = %(name)s AND version = %(version)s
RETURNING version;

-- name: delete_record
DELETE FROM records WHERE kind = %(kind)s AND name = %(name)s;
