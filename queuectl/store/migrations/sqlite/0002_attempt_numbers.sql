-- Attempt numbers that never repeat. `attempts` is the retry budget used, which a
-- requeue, a DLQ retry and a released attempt set back; `last_attempt` numbers the
-- latest attempt and only ever counts up, so a job's attempt records stay distinct.
-- Existing jobs continue after the highest number they used; a job that is processing
-- keeps the number of its open attempt record, which its worker will close.

ALTER TABLE jobs ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;

UPDATE jobs
SET last_attempt = CASE
    WHEN state = 'processing' THEN attempts
    ELSE max(attempts, COALESCE((SELECT max(a.attempt) FROM attempts AS a
                                 WHERE a.job_id = jobs.id), 0))
END;
