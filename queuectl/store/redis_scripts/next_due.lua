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
-- A rate-limited queue with jobs due (P.."queue_limits"): when its rate allows the next
-- start, if sooner.
local rated = nil
local limits = redis.call('HGETALL', P .. 'queue_limits')
for i = 1, #limits, 2 do
    local q = limits[i]
    local rc, nx = string.match(limits[i + 1], '^%S+ (%S+) %S+ (%S+)$')
    if rc ~= '-' and tonumber(nx) > now and (wanted == nil or wanted[q])
       and redis.call('ZCARD', P .. 'ready:' .. q) > 0 then
        if rated == nil or tonumber(nx) < rated then rated = tonumber(nx) end
    end
end
local offset, batch = 0, 100
while true do
    local flat = redis.call('ZRANGEBYSCORE', P .. 'timers', '(' .. num(now), '+inf',
                            'WITHSCORES', 'LIMIT', offset, batch)
    if #flat == 0 then break end
    for i = 1, #flat, 2 do
        if wanted == nil
           or wanted[redis.call('HGET', P .. 'job:' .. flat[i], 'queue')] then
            local at = tonumber(flat[i + 1])
            if rated ~= nil and rated < at then at = rated end
            return tostring(at - now)
        end
    end
    offset = offset + batch
end
if rated ~= nil then return tostring(rated - now) end
return false
