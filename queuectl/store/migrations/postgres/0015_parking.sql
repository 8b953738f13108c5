-- Parking (queuectl/limits.py): the same as migrations/sqlite/0012_parking.sql, in
-- PostgreSQL terms. A due job that a limited claim passed over because its concurrency
-- key or its queue was full leaves the claim index (parked_on 'key' or 'queue'), so the
-- next claims do not read past it again. A key's running job that stops running lets the
-- key's best parked job back, in the statement that moves the key's counter (migration
-- 0016, which keeps the key counters by statement); a limited claim lets a queue's parked
-- jobs back while the queue has room (postgres_limits.py). Any move of a parked job (a
-- state, queue or key change) brings it back too; a claim parks it again if it still has
-- to wait.
ALTER TABLE jobs ADD COLUMN parked_on text;

DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (priority DESC, seq)
    WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL;
CREATE INDEX jobs_parked_key ON jobs (concurrency_key, priority DESC, seq)
    WHERE parked_on = 'key';
CREATE INDEX jobs_parked_queue ON jobs (queue, priority DESC, seq)
    WHERE parked_on = 'queue';

CREATE FUNCTION queuectl_unpark_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.parked_on := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER jobs_unpark_moved BEFORE UPDATE OF state, queue, concurrency_key ON jobs
FOR EACH ROW WHEN (OLD.parked_on IS NOT NULL
                   AND (NEW.state <> OLD.state OR NEW.queue <> OLD.queue
                        OR NEW.concurrency_key IS DISTINCT FROM OLD.concurrency_key))
EXECUTE FUNCTION queuectl_unpark_moved();
