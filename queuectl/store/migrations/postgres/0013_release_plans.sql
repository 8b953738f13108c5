-- queuectl_release (migration 0009), with plans that do not hang on the statistics. On a
-- server that has not analysed the tables lately (autovacuum off, or a graph enqueued
-- since), the planner guesses a handful of pending jobs and a job_after of a few dozen
-- rows per job, and its cheapest plans read every edge (a sequential scan of job_after)
-- and every pending job (a hash of jobs_state's), or walk jobs_blocked, whose every count
-- down leaves one more entry behind, at each finish: a fan-in (10 jobs after 999 each)
-- finishing 8 of them took 8 to 20 ms in the function, 1 to 3 ms once analysed. Here
-- each step reads only the rows it needs whatever the estimates: the edges of each ended
-- job through a subquery the planner keeps apart (OFFSET 0, so it looks them up by
-- `parent`, job_after's key), and each job after it by `id`, one lookup a row (a scalar
-- subquery). The second step, the jobs to cancel, runs only when an end state cancels
-- anything (a completed job never does). And it notifies only when a job's count reaches
-- 0 (it may be claimed) or one is cancelled, as on the other backends: a NOTIFY at each
-- count down woke every listener and took the server's notify lock at each commit.
-- What it changes in the jobs is unchanged.
CREATE OR REPLACE FUNCTION queuectl_release(ids text[], states text[], rules jsonb)
RETURNS integer
LANGUAGE plpgsql
-- One plan per statement and session, made once: plpgsql's default weighed a plan for
-- arrays of unknown length against one for the ids at hand, found it dearer and planned
-- every statement again at every call (a finish of one job with jobs after it: 1.2 to
-- 1.9 ms in the function that way, 0.4 to 0.8 ms this way, same session, same jobs).
-- Planned for unknown lengths, an update by id of a small jobs table (3,000 rows) read
-- all of it rather than look up each id: every statement here has a lookup by key, and
-- no sequential scan is ever what it needs.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    cancelled integer := 0;
    kids text[];
    counts integer[];
    causes text[];
    notes text[];
    next_ids text[];
    released integer;
BEGIN
    WHILE coalesce(array_length(ids, 1), 0) > 0 LOOP
        -- Per job after an ended one whose mode that end meets: how many such ends.
        SELECT array_agg(d.child), array_agg(d.n) INTO kids, counts
        FROM (SELECT a.child, count(*)::integer AS n
              FROM unnest(ids, states) AS e (id, state)
              CROSS JOIN LATERAL (SELECT child FROM job_after WHERE parent = e.id OFFSET 0) AS a
              WHERE (SELECT c.after_mode FROM jobs AS c WHERE c.id = a.child)
                    IN (SELECT jsonb_array_elements_text(rules -> e.state -> 'met'))
              GROUP BY a.child) AS d;
        released := 0;
        IF kids IS NOT NULL THEN
            WITH counted AS (
                UPDATE jobs AS j SET blockers = j.blockers - k.n
                FROM (SELECT *, 'pending' FROM unnest(kids, counts) OFFSET 0) AS k (id, n, state)
                WHERE j.id = k.id AND j.state = k.state AND j.blockers >= k.n
                RETURNING j.blockers)
            SELECT count(*) FILTER (WHERE blockers = 0) INTO released FROM counted;
        END IF;
        IF released > 0 THEN
            PERFORM pg_notify('queuectl_jobs', '');
        END IF;
        kids := NULL;
        IF EXISTS (SELECT 1 FROM unnest(states) AS s (state)
                   WHERE jsonb_array_length(rules -> s.state -> 'never') > 0) THEN
            SELECT array_agg(d.child), array_agg(d.parent), array_agg(d.note)
            INTO kids, causes, notes
            FROM (SELECT DISTINCT ON (a.child) a.child, e.id AS parent,
                         rules -> e.state ->> 'note' AS note
                  FROM unnest(ids, states) AS e (id, state)
                  CROSS JOIN LATERAL (SELECT child FROM job_after WHERE parent = e.id OFFSET 0)
                      AS a
                  WHERE (SELECT c.after_mode FROM jobs AS c
                         WHERE c.id = a.child AND c.state = 'pending')
                        IN (SELECT jsonb_array_elements_text(rules -> e.state -> 'never'))
                  ORDER BY a.child, e.id) AS d;
        END IF;
        next_ids := NULL;
        IF kids IS NOT NULL THEN
            WITH gone AS (
                UPDATE jobs AS j
                SET state = 'cancelled', blockers = 0, updated_at = now(),
                    cancel_requested = false, cancelled_by = k.parent,
                    last_error = 'after ' || k.parent || k.note
                FROM (SELECT *, 'pending' FROM unnest(kids, causes, notes) OFFSET 0)
                    AS k (id, parent, note, state)
                WHERE j.id = k.id AND j.state = k.state
                RETURNING j.id)
            SELECT array_agg(id) INTO next_ids FROM gone;
        END IF;
        IF next_ids IS NOT NULL AND released = 0 THEN
            PERFORM pg_notify('queuectl_jobs', '');  -- watchers (the dashboard) see it
        END IF;
        cancelled := cancelled + coalesce(array_length(next_ids, 1), 0);
        ids := next_ids;
        states := array_fill('cancelled'::text, ARRAY[coalesce(array_length(next_ids, 1), 0)]);
    END LOOP;
    RETURN cancelled;
END
$$;
