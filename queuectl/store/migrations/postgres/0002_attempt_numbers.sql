-- Attempt numbers that never repeat. `attempts` is the retry budget used, which a
-- requeue, a DLQ retry and a released attempt set back; `last_attempt` numbers the
-- latest attempt and only ever counts up, so a job's attempt records stay distinct.
-- Existing jobs continue after the highest number they used; a job that is processing
-- keeps the number of its open attempt record, which its worker will close.

ALTER TABLE jobs ADD COLUMN last_attempt integer NOT NULL DEFAULT 0;

UPDATE jobs AS j
SET last_attempt = CASE
    WHEN j.state = 'processing' THEN j.attempts
    ELSE GREATEST(j.attempts, COALESCE((SELECT max(a.attempt) FROM attempts AS a
                                        WHERE a.job_id = j.id), 0))
END;
