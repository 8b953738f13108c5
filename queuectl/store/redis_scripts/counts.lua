-- count_jobs: ARGV = prefix, queue ("" = all). Returns {state, n, ..., "scheduled", n,
-- "blocked", n}.
local now = clock()
local queue = ARGV[2]
local by_state = {}
local scheduled = 0
local flat = redis.call('HGETALL', P .. 'counts')
for i = 1, #flat, 2 do
    local s, q = string.match(flat[i], '^([^|]+)|(.*)$')
    if queue == '' or q == queue then
        by_state[s] = (by_state[s] or 0) + tonumber(flat[i + 1])
        if s == 'pending' and tonumber(flat[i + 1]) > 0 then
            scheduled = scheduled + redis.call('ZCOUNT', P .. 'pending_at:' .. q,
                                               '(' .. num(now), '+inf')
        end
    end
end
local out = {}
for s, n in pairs(by_state) do
    out[#out + 1] = s
    out[#out + 1] = n
end
out[#out + 1] = 'scheduled'
out[#out + 1] = scheduled
local blocked = 0
if queue == '' then
    blocked = redis.call('ZCARD', P .. 'blocked')
else
    for _, id in ipairs(redis.call('ZRANGE', P .. 'blocked', 0, -1)) do
        if redis.call('HGET', job_key(id), 'queue') == queue then blocked = blocked + 1 end
    end
end
out[#out + 1] = 'blocked'
out[#out + 1] = blocked
return out
