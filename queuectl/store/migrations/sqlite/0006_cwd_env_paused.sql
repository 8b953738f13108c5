-- Where and with what a job runs: `cwd` (NULL = the worker's directory) and `env`, a JSON
-- object of extra variables merged over the worker's environment (NULL = none).
ALTER TABLE jobs ADD COLUMN cwd TEXT;
ALTER TABLE jobs ADD COLUMN env TEXT;

-- Paused queues: workers claim nothing from them until resumed; running jobs go on.
CREATE TABLE paused_queues (
    queue     TEXT PRIMARY KEY,
    paused_at REAL NOT NULL
) WITHOUT ROWID;
