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
