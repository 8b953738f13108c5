-- Workflows (queuectl/workflow.py): jobs that run after other jobs.
-- after_mode: NULL for a job after none; blockers: how many of the jobs it runs after
-- have not ended as it needs (claims take only jobs with none); dependents: how many jobs
-- run after it (a finish looks for them only then); cancelled_by: the job whose end
-- cancelled it (what a requeue of that job brings back).
ALTER TABLE jobs ADD COLUMN after_mode TEXT;
ALTER TABLE jobs ADD COLUMN blockers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN dependents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancelled_by TEXT;

-- One row per (job, job it runs after); `child` runs after `parent`.
CREATE TABLE job_after (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    PRIMARY KEY (parent, child)
) WITHOUT ROWID;
CREATE INDEX job_after_child ON job_after (child, parent);

-- Blocked jobs stay out of the claim index and of the scheduled ones, so claims and idle
-- workers never step over them, however many wait.
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (priority DESC, seq)
    WHERE state IN ('pending', 'failed') AND blockers = 0;
DROP INDEX jobs_pending_run_at;
CREATE INDEX jobs_pending_run_at ON jobs (queue, run_at) WHERE state = 'pending' AND blockers = 0;
CREATE INDEX jobs_blocked ON jobs (seq) WHERE state = 'pending' AND blockers > 0;
CREATE INDEX jobs_cancelled_by ON jobs (cancelled_by) WHERE cancelled_by IS NOT NULL;
