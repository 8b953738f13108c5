-- Records, as migrations/sqlite/0009_records.sql.
CREATE TABLE records (
    kind text NOT NULL,
    name text NOT NULL,
    value text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Retention prunes finished jobs oldest first, a batch at a time, by state and age.
CREATE INDEX jobs_ended ON jobs (state, updated_at)
    WHERE state IN ('completed', 'dead', 'cancelled');

-- A deleted job (purge, delete, retention) takes its links to the jobs it ran after with
-- it; a link from a job that stays to a deleted one is kept (shown as deleted).
CREATE FUNCTION queuectl_job_after_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_after WHERE child = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER job_after_gone AFTER DELETE ON jobs
FOR EACH ROW EXECUTE FUNCTION queuectl_job_after_gone();
