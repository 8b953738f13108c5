-- query_jobs: ARGV = prefix, oldest ("1"/"0"), after seq ("" = none), limit ("" = all),
-- queue ("=" .. name, "" = any), id prefix low and high ("" = none), search ("" = none),
-- then the states.
-- Returns the jobs (HGETALL arrays) in seq order. Cost: the page plus the jobs skipped.
local now = clock()
local oldest = ARGV[2] == '1'
local after = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local queue = ARGV[5] ~= '' and string.sub(ARGV[5], 2) or nil
local low, high, search = ARGV[6], ARGV[7], ARGV[8]
local states, scheduled, blocked = {}, false, false
for i = 9, #ARGV do
    if ARGV[i] == 'scheduled' then scheduled = true
    elseif ARGV[i] == 'blocked' then blocked = true
    else states[#states + 1] = ARGV[i] end
end

local function before(a, b)  -- a comes first in the listing order
    if oldest then return a < b end
    return a > b
end

local function matches(job)
    if queue and job.queue ~= queue then return false end
    if search ~= '' and not string.find(job.command, search, 1, true) then return false end
    return after == nil or before(after, tonumber(job.seq))
end

local function in_states(job)
    if #states == 0 and not scheduled and not blocked then return true end
    for _, s in ipairs(states) do if job.state == s then return true end end
    if blocked and is_blocked(job) then return true end
    return scheduled and not is_blocked(job) and job.state == 'pending'
           and tonumber(job.run_at) > now
end

-- Walk one seq-scored zset from the cursor on, keeping what matches, up to `limit`.
local function walk(key, out)
    local bound = after
    local chunk = 256
    while true do
        local found
        if oldest then
            found = redis.call('ZRANGEBYSCORE', key, bound and '(' .. num(bound) or '-inf',
                               '+inf', 'LIMIT', 0, chunk)
        else
            found = redis.call('ZREVRANGEBYSCORE', key, bound and '(' .. num(bound) or '+inf',
                               '-inf', 'LIMIT', 0, chunk)
        end
        for _, id in ipairs(found) do
            local job = load(id)
            bound = tonumber(job.seq)
            if matches(job) then
                out[#out + 1] = job
                if limit and #out >= limit then return end
            end
        end
        if #found < chunk then return end
    end
end

local function sorted(jobs)
    table.sort(jobs, function(a, b) return before(tonumber(a.seq), tonumber(b.seq)) end)
    return jobs
end

local function pending_queues()
    if queue then return {queue} end
    local names = {}
    for _, field in ipairs(redis.call('HKEYS', P .. 'counts')) do
        local s, q = string.match(field, '^([^|]+)|(.*)$')
        if s == 'pending' then names[#names + 1] = q end
    end
    return names
end

local jobs = {}
if low ~= '' then
    for _, id in ipairs(redis.call('ZRANGEBYLEX', P .. 'ids', '[' .. low, '(' .. high)) do
        local job = load(id)
        if string.sub(id, 1, #low) == low and matches(job) and in_states(job) then
            jobs[#jobs + 1] = job
        end
    end
    sorted(jobs)
elseif #states == 0 and not scheduled and not blocked then
    walk(P .. 'all', jobs)
else
    for _, s in ipairs(states) do walk(P .. 'state:' .. s, jobs) end
    if blocked then walk(P .. 'blocked', jobs) end
    if scheduled then  -- pending jobs due later: read from their run_at index
        for _, q in ipairs(pending_queues()) do
            local key = P .. 'pending_at:' .. q
            for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. num(now), '+inf')) do
                local job = load(id)
                if matches(job) then jobs[#jobs + 1] = job end
            end
        end
    end
    sorted(jobs)
end

local out = {}
for i = 1, #jobs do
    if limit and #out >= limit then break end
    -- a job both pending and due later, asked for as both, is listed once
    if i == 1 or jobs[i].id ~= jobs[i - 1].id then out[#out + 1] = flatten(jobs[i]) end
end
return out
