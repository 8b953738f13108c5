-- claim_jobs: ARGV = prefix, worker id, lease seconds, limit, then the queues (none = all).
-- Moves waiting jobs whose time has come into the ready sets, then takes the `limit`
-- best (highest priority, then lowest seq) from the queues asked for. Returns the
-- claimed jobs (HGETALL arrays) in claim order.
local now = clock()
local worker, lease, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', num(now))) do
    local job = load(id)
    redis.call('ZREM', P .. 'timers', id)
    if job and waiting(job.state) then make_ready(job) end
end

-- The candidates: per set, its best `limit` (score, then seq in the member's first 16
-- hex digits); merged across the queues' sets.
local picked = {}
local sets = {}
if #ARGV < 5 then
    sets[1] = P .. 'ready'
else
    for i = 5, #ARGV do sets[#sets + 1] = P .. 'ready:' .. ARGV[i] end
end
for _, set in ipairs(sets) do
    local found = redis.call('ZRANGE', set, 0, limit - 1, 'WITHSCORES')
    for i = 1, #found, 2 do
        local m = found[i]
        picked[#picked + 1] = {tonumber(found[i + 1]), tonumber(string.sub(m, 1, 16), 16),
                               string.sub(m, 17)}
    end
end
if #sets > 1 then
    table.sort(picked, function(a, b)
        if a[1] ~= b[1] then return a[1] < b[1] end
        return a[2] < b[2]
    end)
end

local claimed = {}
for i = 1, math.min(limit, #picked) do
    local job = load(picked[i][3])
    local n = tonumber(job.last_attempt) + 1
    update(job, {
        state = 'processing', attempts = tonumber(job.attempts) + 1, last_attempt = n,
        worker_id = worker, lease_expires_at = now + lease, updated_at = now,
        cancel_requested = '0',
    }, now)
    redis.call('HSET', att_key(job.id, n), 'job_id', job.id, 'attempt', n,
               'worker_id', worker, 'started_at', num(now))
    claimed[#claimed + 1] = flatten(job)
end
return claimed
