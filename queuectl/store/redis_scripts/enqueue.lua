-- enqueue_jobs: ARGV = prefix, default max_retries, then the jobs as one JSON array (one
-- argument: decoding it here costs a fraction of what a client pays to send a million
-- arguments) of arrays of 14 strings (id, command, queue, priority, max_retries, timeout,
-- run_at, delay, keep_daemons, cwd, env as JSON, after_mode, the ids it runs after joined
-- by ",", concurrency key; "" = None).
-- All or none: the first id already taken (or twice in the batch) is returned as
-- {"duplicate", id}; a job after an id that does not exist as {"unknown", id, after id};
-- after a job that ended as its mode never accepts as {"never", id, after id, state}
-- (queuectl/workflow.py words the errors). Then nothing is written. Returns {"ok"}.
local now = clock()
local specs = cjson.decode(ARGV[3])
local n = #specs

-- Taken ids: one ZMSCORE of the id index a chunk, not an EXISTS a job.
local seen = {}
for first = 1, n, CHUNK do
    local ids = {}
    for i = first, math.min(first + CHUNK - 1, n) do ids[#ids + 1] = specs[i][1] end
    local scores = redis.call('ZMSCORE', P .. 'ids', unpack(ids))
    for k, id in ipairs(ids) do
        if scores[k] or seen[id] then return {'duplicate', id} end
        seen[id] = true
    end
end

-- Workflows: what each new job waits for, and how many new jobs run after each job.
local blockers, dependents, parents_of = {}, {}, {}
for _, spec in ipairs(specs) do
    if spec[13] ~= '' then  -- most jobs run after nothing
        local id, mode, count, parents = spec[1], spec[12], 0, {}
        for parent in string.gmatch(spec[13], '[^,]+') do
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
end

local default = num(tonumber(ARGV[2]))
local last_seq = redis.call('INCRBY', P .. 'seq', n)
local stamp = num(now)
local jobs = {}
for i, spec in ipairs(specs) do
    local id, own = spec[1], spec[5]
    local job = {
        id = id, queue = spec[3], priority = spec[4], state = 'pending',
        seq = num(last_seq - n + i),
        run_at = num(tonumber(spec[7]) or (now + tonumber(spec[8]))),
        blockers = num(blockers[id] or 0),
        concurrency_key = spec[14] ~= '' and spec[14] or nil,
    }
    -- The hash as one call with its fields spelt out (no table of them to build), then
    -- the optional ones (absent = None) in a second call when there are any.
    redis.call('HSET', job_key(id), 'id', id, 'command', spec[2], 'queue', job.queue,
               'priority', job.priority, 'state', 'pending', 'attempts', '0',
               'last_attempt', '0', 'max_retries', (own ~= '' and own) or default,
               'seq', job.seq, 'run_at', job.run_at, 'created_at', stamp,
               'updated_at', stamp, 'cancel_requested', '0', 'keep_daemons', spec[9],
               'blockers', job.blockers, 'dependents', num(dependents[id] or 0))
    local parents = parents_of[id]
    if own ~= '' or spec[6] ~= '' or spec[11] ~= '' or spec[14] ~= '' or parents then
        local extra = {}
        for field, value in pairs({own_max_retries = own, timeout = spec[6], cwd = spec[10],
                                   env = spec[11], after_mode = spec[12],
                                   concurrency_key = spec[14]}) do
            if value ~= '' then
                extra[#extra + 1] = field
                extra[#extra + 1] = value
            end
        end
        redis.call('HSET', job_key(id), unpack(extra))
    elseif spec[10] ~= '' then
        redis.call('HSET', job_key(id), 'cwd', spec[10])
    end
    if parents then
        redis.call('SADD', P .. 'parents:' .. id, unpack(parents))
        for _, parent in ipairs(parents) do
            redis.call('SADD', P .. 'children:' .. parent, id)
        end
    end
    jobs[i] = job
end
index_new(jobs, now)
for parent, count in pairs(dependents) do
    if not seen[parent] then redis.call('HINCRBY', job_key(parent), 'dependents', count) end
end
-- Even for jobs due later: an idle worker reads when the next one comes due.
redis.call('PUBLISH', WAKE, 'enqueue')
return {'ok'}
