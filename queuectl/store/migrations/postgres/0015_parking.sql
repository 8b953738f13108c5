-- Parking (queuectl/limits.py): the same as migrations/sqlite/0012_parking.sql, in
-- PostgreSQL terms. A due job that a limited claim passed over because its concurrency
-- key or its queue was full leaves the claim index (parked_on 'key' or 'queue'), so the
-- next claims do not read past it again. A key's running job that stops running lets the
-- key's best parked job back, in the transaction that moves the key's counter (below); a
-- limited claim lets a queue's parked jobs back while the queue has room
-- (postgres_limits.py). Any move of a parked job (a state, queue or key change) brings
-- it back too; a claim parks it again if it still has to wait.
--
-- Races: a claim parks a job for its key only while the key's row, locked, still says
-- the key is full (postgres.sql, park_for_key), and a finish moves that row before it
-- looks for a parked job. Whichever locks the row first, the other sees its work: a key
-- that frees is never left with parked jobs and no slot taken.
ALTER TABLE jobs ADD COLUMN parked_on text;

DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (priority DESC, seq)
    WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL;
CREATE INDEX jobs_parked_key ON jobs (concurrency_key, priority DESC, seq)
    WHERE parked_on = 'key';
CREATE INDEX jobs_parked_queue ON jobs (queue, priority DESC, seq)
    WHERE parked_on = 'queue';

CREATE OR REPLACE FUNCTION queuectl_count_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    the_key text;
    running_delta integer := 0;
    jobs_delta integer := 0;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        the_key := NEW.concurrency_key;
        running_delta := (NEW.state = 'processing')::integer;
        jobs_delta := (NEW.state IN ('pending', 'failed', 'processing'))::integer;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        the_key := OLD.concurrency_key;
        running_delta := running_delta - (OLD.state = 'processing')::integer;
        jobs_delta := jobs_delta - (OLD.state IN ('pending', 'failed', 'processing'))::integer;
    END IF;
    INSERT INTO key_limits AS k (key, running, jobs)
    VALUES (the_key, running_delta, jobs_delta)
    ON CONFLICT (key) DO UPDATE
    SET running = k.running + excluded.running, jobs = k.jobs + excluded.jobs;
    DELETE FROM key_limits AS k
    WHERE k.key = the_key AND k.jobs = 0 AND k.running = 0 AND k.concurrency IS NULL;
    IF running_delta < 0 THEN
        -- A slot of the key is free: its best parked job comes back (one a slot; a row
        -- another transaction holds, being cancelled say, is passed for the next).
        UPDATE jobs SET parked_on = NULL
        WHERE seq = (SELECT seq FROM jobs
                     WHERE parked_on = 'key' AND concurrency_key = the_key
                     ORDER BY priority DESC, seq LIMIT 1
                     FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NULL;
END
$$;

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
