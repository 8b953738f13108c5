-- Where and with what a job runs: `cwd` (NULL = the worker's directory) and `env`, a JSON
-- object of extra variables merged over the worker's environment (NULL = none).
ALTER TABLE jobs ADD COLUMN cwd text;
ALTER TABLE jobs ADD COLUMN env jsonb;

-- Paused queues: workers claim nothing from them until resumed; running jobs go on.
CREATE TABLE paused_queues (
    queue     text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);
