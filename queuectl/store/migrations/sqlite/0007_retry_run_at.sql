-- Failed jobs awaiting their retry by (queue, run_at), beside jobs_pending_run_at: an idle
-- worker reads when the next waiting job comes due (next_due_in) with one seek per queue.
CREATE INDEX jobs_failed_run_at ON jobs (queue, run_at) WHERE state = 'failed';
