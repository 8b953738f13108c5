-- Parking (queuectl/limits.py): a due job that a limited claim passed over because its
-- concurrency key or its queue was full leaves the claim index (parked_on 'key' or
-- 'queue'), so the next claims do not read past it again: with a long backlog behind a
-- limit, a claim still costs one index seek. A key's running job that stops running lets
-- the key's best parked job back (below, in the same transaction); a limited claim lets a
-- queue's parked jobs back while the queue has room (sqlite_limits.py). Any move of a
-- parked job (a state, queue or key change) brings it back too; a claim parks it again
-- if it still has to wait.
ALTER TABLE jobs ADD COLUMN parked_on TEXT;

DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (priority DESC, seq)
    WHERE state IN ('pending', 'failed') AND blockers = 0 AND parked_on IS NULL;
CREATE INDEX jobs_parked_key ON jobs (concurrency_key, priority DESC, seq)
    WHERE parked_on = 'key';
CREATE INDEX jobs_parked_queue ON jobs (queue, priority DESC, seq)
    WHERE parked_on = 'queue';

CREATE TRIGGER key_unpark_move AFTER UPDATE OF state ON jobs
WHEN OLD.state = 'processing' AND NEW.state <> 'processing'
     AND OLD.concurrency_key IS NOT NULL
BEGIN
    UPDATE jobs SET parked_on = NULL
    WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_parked_key
                 WHERE parked_on = 'key' AND concurrency_key = OLD.concurrency_key
                 ORDER BY priority DESC, seq LIMIT 1);
END;

CREATE TRIGGER key_unpark_delete AFTER DELETE ON jobs
WHEN OLD.state = 'processing' AND OLD.concurrency_key IS NOT NULL
BEGIN
    UPDATE jobs SET parked_on = NULL
    WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_parked_key
                 WHERE parked_on = 'key' AND concurrency_key = OLD.concurrency_key
                 ORDER BY priority DESC, seq LIMIT 1);
END;

CREATE TRIGGER jobs_unpark_moved AFTER UPDATE OF state, queue, concurrency_key ON jobs
WHEN NEW.parked_on IS NOT NULL
     AND (NEW.state <> OLD.state OR NEW.queue <> OLD.queue
          OR NEW.concurrency_key IS NOT OLD.concurrency_key)
BEGIN
    UPDATE jobs SET parked_on = NULL WHERE seq = NEW.seq;
END;
