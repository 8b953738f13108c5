-- Workflows, as migrations/sqlite/0008_workflows.sql: after_mode (NULL: after none),
-- blockers (claims take only jobs with none), dependents, cancelled_by; job_after holds
-- one row per (job, job it runs after).
ALTER TABLE jobs ADD COLUMN after_mode text;
ALTER TABLE jobs ADD COLUMN blockers integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dependents integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancelled_by text;

CREATE TABLE job_after (
    parent text NOT NULL,
    child text NOT NULL,
    PRIMARY KEY (parent, child)
);
CREATE INDEX job_after_child ON job_after (child, parent);

DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (priority DESC, seq)
    WHERE state IN ('pending', 'failed') AND blockers = 0;
DROP INDEX jobs_pending_run_at;
CREATE INDEX jobs_pending_run_at ON jobs (queue, run_at) WHERE state = 'pending' AND blockers = 0;
CREATE INDEX jobs_blocked ON jobs (seq) WHERE state = 'pending' AND blockers > 0;
CREATE INDEX jobs_cancelled_by ON jobs (cancelled_by) WHERE cancelled_by IS NOT NULL;

-- After jobs ended (ids[i] as states[i]): each pending job after them whose mode that end
-- meets waits for one fewer; each whose mode it can never meet is cancelled, naming that
-- job, and so on down the graph, level by level. `rules` maps an end state to
-- {"met": [modes], "never": [modes], "note": text}: queuectl/workflow.py decides, this
-- applies. A finish calls it inside its own statement (one round trip, one atomic step):
-- each statement here reads a fresh snapshot, so it also sees a job enqueued after one
-- of `ids` by a transaction that committed while the finish waited for that job's row.
-- Notifies (wakes idle workers and watchers) when a job may have become claimable or was
-- cancelled. Returns how many it cancelled.
CREATE FUNCTION queuectl_release(ids text[], states text[], rules jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
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
        -- The jobs after these, found through job_after, then updated by id (the primary
        -- key): never a walk of the blocked jobs, however many wait.
        SELECT array_agg(d.child), array_agg(d.n) INTO kids, counts
        FROM (SELECT a.child, count(*)::integer AS n
              FROM unnest(ids, states) AS e (id, state)
              JOIN job_after AS a ON a.parent = e.id
              JOIN jobs AS c ON c.id = a.child
              WHERE c.after_mode IN (SELECT jsonb_array_elements_text(rules -> e.state -> 'met'))
              GROUP BY a.child) AS d;
        released := 0;
        IF kids IS NOT NULL THEN
            UPDATE jobs AS j SET blockers = j.blockers - k.n
            FROM unnest(kids, counts) AS k (id, n)
            WHERE j.id = ANY (kids) AND j.id = k.id AND j.state = 'pending' AND j.blockers > 0;
            GET DIAGNOSTICS released = ROW_COUNT;
        END IF;
        IF released > 0 THEN
            PERFORM pg_notify('queuectl_jobs', '');
        END IF;
        SELECT array_agg(d.child), array_agg(d.parent), array_agg(d.note)
        INTO kids, causes, notes
        FROM (SELECT DISTINCT ON (a.child) a.child, e.id AS parent,
                     rules -> e.state ->> 'note' AS note
              FROM unnest(ids, states) AS e (id, state)
              JOIN job_after AS a ON a.parent = e.id
              JOIN jobs AS c ON c.id = a.child
              WHERE c.state = 'pending'
                AND c.after_mode IN (SELECT jsonb_array_elements_text(rules -> e.state -> 'never'))
              ORDER BY a.child, e.id) AS d;
        next_ids := NULL;
        IF kids IS NOT NULL THEN
            WITH gone AS (
                UPDATE jobs AS j
                SET state = 'cancelled', blockers = 0, updated_at = now(),
                    cancel_requested = false, cancelled_by = k.parent,
                    last_error = 'after ' || k.parent || k.note
                FROM unnest(kids, causes, notes) AS k (id, parent, note)
                WHERE j.id = ANY (kids) AND j.id = k.id AND j.state = 'pending'
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
