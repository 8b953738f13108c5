-- Records: values queuectl keeps for its own bookkeeping (schedules, the last prune), by
-- kind and name, each with a version its writers compare and set (Store.put_record).
CREATE TABLE records (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;

-- Retention prunes finished jobs oldest first, a batch at a time, by state and age.
CREATE INDEX jobs_ended ON jobs (state, updated_at)
    WHERE state IN ('completed', 'dead', 'cancelled');

-- A deleted job (purge, delete, retention) takes its links to the jobs it ran after with
-- it; a link from a job that stays to a deleted one is kept (shown as deleted).
CREATE TRIGGER job_after_gone AFTER DELETE ON jobs
BEGIN
    DELETE FROM job_after WHERE child = OLD.id;
END;
