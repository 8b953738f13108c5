-- enqueue_jobs: ARGV = prefix, default max_retries, then 11 fields per job (id, command,
-- queue, priority, max_retries, timeout, run_at, delay, keep_daemons, cwd, env as JSON;
-- "" = None).
-- All or none: the first id already taken (or twice in the batch) is returned as
-- {"duplicate", id} and nothing is written. Returns {"ok"}.
local now = clock()
local FIELDS = 11
local seen = {}
for i = 3, #ARGV, FIELDS do
    local id = ARGV[i]
    if seen[id] or redis.call('EXISTS', job_key(id)) == 1 then return {'duplicate', id} end
    seen[id] = true
end
local default = tonumber(ARGV[2])
for i = 3, #ARGV, FIELDS do
    local own = ARGV[i + 4]
    local run_at = tonumber(ARGV[i + 6]) or (now + tonumber(ARGV[i + 7]))
    local job = {
        id = ARGV[i], command = ARGV[i + 1], queue = ARGV[i + 2], priority = ARGV[i + 3],
        state = 'pending', attempts = '0', last_attempt = '0',
        max_retries = (own ~= '' and own) or num(default),
        seq = num(redis.call('INCR', P .. 'seq')),
        run_at = num(run_at), created_at = num(now), updated_at = num(now),
        cancel_requested = '0', keep_daemons = ARGV[i + 8],
    }
    if own ~= '' then job.own_max_retries = own end
    if ARGV[i + 5] ~= '' then job.timeout = ARGV[i + 5] end
    if ARGV[i + 9] ~= '' then job.cwd = ARGV[i + 9] end
    if ARGV[i + 10] ~= '' then job.env = ARGV[i + 10] end
    insert(job, now)
end
-- Even for jobs due later: an idle worker reads when the next one comes due.
redis.call('PUBLISH', WAKE, 'enqueue')
return {'ok'}
