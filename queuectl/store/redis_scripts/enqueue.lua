-- enqueue_jobs: ARGV = prefix, default max_retries, then 14 fields per job (id, command,
-- queue, priority, max_retries, timeout, run_at, delay, keep_daemons, cwd, env as JSON,
-- after_mode, the ids it runs after joined by ",", concurrency key; "" = None).
-- All or none: the first id already taken (or twice in the batch) is returned as
-- {"duplicate", id}; a job after an id that does not exist as {"unknown", id, after id};
-- after a job that ended as its mode never accepts as {"never", id, after id, state}
-- (queuectl/workflow.py words the errors). Then nothing is written. Returns {"ok"}.
local now = clock()
local FIELDS = 14
local seen = {}
for i = 3, #ARGV, FIELDS do
    local id = ARGV[i]
    if seen[id] or redis.call('EXISTS', job_key(id)) == 1 then return {'duplicate', id} end
    seen[id] = true
end

-- Workflows: what each new job waits for, and how many new jobs run after each job.
local blockers, dependents, parents_of = {}, {}, {}
for i = 3, #ARGV, FIELDS do
    local id, mode, count, parents = ARGV[i], ARGV[i + 11], 0, {}
    for parent in string.gmatch(ARGV[i + 12], '[^,]+') do
        parents[#parents + 1] = parent
        dependents[parent] = (dependents[parent] or 0) + 1
        if seen[parent] then
            count = count + 1
        else
            local state = redis.call('HGET', job_key(parent), 'state')
            if not state then return {'unknown', id, parent} end
            local seen_as = outcome(state, mode)
            if seen_as == 'never' then return {'never', id, parent, state} end
            if seen_as == 'waits' then count = count + 1 end
        end
    end
    blockers[id], parents_of[id] = count, parents
end

local default = tonumber(ARGV[2])
for i = 3, #ARGV, FIELDS do
    local own = ARGV[i + 4]
    local run_at = tonumber(ARGV[i + 6]) or (now + tonumber(ARGV[i + 7]))
    local id = ARGV[i]
    local job = {
        id = id, command = ARGV[i + 1], queue = ARGV[i + 2], priority = ARGV[i + 3],
        state = 'pending', attempts = '0', last_attempt = '0',
        max_retries = (own ~= '' and own) or num(default),
        seq = num(redis.call('INCR', P .. 'seq')),
        run_at = num(run_at), created_at = num(now), updated_at = num(now),
        cancel_requested = '0', keep_daemons = ARGV[i + 8],
        blockers = num(blockers[id]), dependents = num(dependents[id] or 0),
    }
    if own ~= '' then job.own_max_retries = own end
    if ARGV[i + 5] ~= '' then job.timeout = ARGV[i + 5] end
    if ARGV[i + 9] ~= '' then job.cwd = ARGV[i + 9] end
    if ARGV[i + 10] ~= '' then job.env = ARGV[i + 10] end
    if ARGV[i + 13] ~= '' then job.concurrency_key = ARGV[i + 13] end
    if #parents_of[id] > 0 then
        job.after_mode = ARGV[i + 11]
        redis.call('SADD', P .. 'parents:' .. id, unpack(parents_of[id]))
        for _, parent in ipairs(parents_of[id]) do
            redis.call('SADD', P .. 'children:' .. parent, id)
        end
    end
    insert(job, now)
end
for parent, n in pairs(dependents) do
    if not seen[parent] then redis.call('HINCRBY', job_key(parent), 'dependents', n) end
end
-- Even for jobs due later: an idle worker reads when the next one comes due.
redis.call('PUBLISH', WAKE, 'enqueue')
return {'ok'}
