-- Unique jobs: at most one job with a given unique_key waits (pending, failed awaiting
-- its retry) or runs (processing). The index is the guard itself: an enqueue or requeue
-- that would make a second job hold the key breaks it, whatever the races; a job that
-- ends (completed, dead, cancelled) or is deleted leaves the index and frees its key.
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'failed', 'processing');
