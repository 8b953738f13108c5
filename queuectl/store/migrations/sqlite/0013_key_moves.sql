-- A job's concurrency key can change while it waits (a unique key's `replace` gives the
-- waiting job the new spec's key): the key counters of migration 0010 count the job out
-- of its old key and into its new one, as for a change of state.
DROP TRIGGER key_limits_move;
CREATE TRIGGER key_limits_move AFTER UPDATE OF state, concurrency_key ON jobs
WHEN (NEW.state <> OLD.state OR NEW.concurrency_key IS NOT OLD.concurrency_key)
     AND (NEW.concurrency_key IS NOT NULL OR OLD.concurrency_key IS NOT NULL)
BEGIN
    UPDATE key_limits
    SET running = running - (OLD.state = 'processing'),
        jobs = jobs - (OLD.state IN ('pending', 'failed', 'processing'))
    WHERE key = OLD.concurrency_key;
    INSERT INTO key_limits (key, running, jobs)
    SELECT NEW.concurrency_key, NEW.state = 'processing',
           NEW.state IN ('pending', 'failed', 'processing')
    WHERE NEW.concurrency_key IS NOT NULL
    ON CONFLICT (key) DO UPDATE
    SET running = running + excluded.running, jobs = jobs + excluded.jobs;
    DELETE FROM key_limits
    WHERE key IN (OLD.concurrency_key, NEW.concurrency_key)
      AND jobs = 0 AND running = 0 AND concurrency IS NULL;
END;
