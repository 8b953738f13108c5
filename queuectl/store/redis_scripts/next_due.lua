-- next_due_in: ARGV = prefix, then the queues (none = all). Seconds until the earliest
-- waiting job of those queues not yet due comes due (false: none). Walks P.."timers" (every
-- waiting job not yet due, by run_at) from now on, a batch at a time, to the first of
-- those queues: without a filter, the first one.
local now = clock()
local wanted = nil
if #ARGV > 1 then
    wanted = {}
    for i = 2, #ARGV do wanted[ARGV[i]] = true end
end
local offset, batch = 0, 100
while true do
    local flat = redis.call('ZRANGEBYSCORE', P .. 'timers', '(' .. num(now), '+inf',
                            'WITHSCORES', 'LIMIT', offset, batch)
    if #flat == 0 then return false end
    for i = 1, #flat, 2 do
        if wanted == nil
           or wanted[redis.call('HGET', P .. 'job:' .. flat[i], 'queue')] then
            return tostring(tonumber(flat[i + 1]) - now)
        end
    end
    offset = offset + batch
end
