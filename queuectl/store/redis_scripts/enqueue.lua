-- enqueue_jobs: ARGV = prefix, default max_retries, then the jobs as one JSON array (one
-- argument: decoding it here costs a fraction of what a client pays to send a million
-- arguments) of arrays of 15 strings (id, command, queue, priority, max_retries, timeout,
-- run_at, delay, keep_daemons, cwd, env as JSON, after_mode, the ids it runs after joined
-- by ",", concurrency key, unique key; "" = None).
-- All or none: the first id already taken (or twice in the batch) is returned as
-- {"duplicate", id}; the first job whose unique key a waiting or running job holds (or
-- an earlier job of the batch) as {"unique", id, key, holder}; a job after an id that
-- does not exist as {"unknown", id, after id};
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

-- Unique keys: each one free in P.."unique" (and not twice in the batch).
local keys = {}
for _, spec in ipairs(specs) do
    local key = spec[15]
    if key ~= '' then
        local holder = keys[key] or redis.call('HGET', P .. 'unique', key)
        if holder then return {'unique', spec[1], key, holder} end
        keys[key] = spec[1]
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
    -- Most jobs of a bulk are due now and run after nothing: their run_at, blockers and
    -- dependents are strings made once, not formatted again for each job.
    local at = tonumber(spec[7]) or (now + tonumber(spec[8]))
    local blocking, after_it = blockers[id], dependents[id]
    local job = {
        id = id, queue = spec[3], priority = spec[4], state = 'pending',
        seq = num(last_seq - n + i),
        run_at = at == now and stamp or num(at),
        blockers = blocking and num(blocking) or '0',
        concurrency_key = spec[14] ~= '' and spec[14] or nil,
    }
    if spec[15] ~= '' then job.unique_key = spec[15] end
    -- The hash as one call with its fields spelt out (no table of them to build), then
    -- the optional ones (absent = None) in a second call when there are any.
    redis.call('HSET', job_key(id), 'id', id, 'command', spec[2], 'queue', job.queue,
               'priority', job.priority, 'state', 'pending', 'attempts', '0',
               'last_attempt', '0', 'max_retries', (own ~= '' and own) or default,
               'seq', job.seq, 'run_at', job.run_at, 'created_at', stamp,
               'updated_at', stamp, 'cancel_requested', '0', 'keep_daemons', spec[9],
               'blockers', job.blockers, 'dependents', after_it and num(after_it) or '0')
    local parents = parents_of[id]
    if own ~= '' or spec[6] ~= '' or spec[11] ~= '' or spec[14] ~= '' or parents
       or spec[15] ~= '' then
        local extra = {}
        for field, value in pairs({own_max_retries = own, timeout = spec[6], cwd = spec[10],
                                   env = spec[11], after_mode = spec[12],
                                   concurrency_key = spec[14], unique_key = spec[15]}) do
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
