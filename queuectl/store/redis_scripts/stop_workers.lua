-- request_worker_stop: ARGV = prefix, then pairs of (worker id, stop mode to store), as
-- decided from what list_workers read; each applies only while the worker still has the
-- stop request it was decided from (ARGV pairs are id, expected, new). Returns how many
-- were asked (including those that already had the request).
local asked = 0
for i = 2, #ARGV, 3 do
    local key = P .. 'worker:' .. ARGV[i]
    if redis.call('EXISTS', key) == 1 then
        local current = redis.call('HGET', key, 'stop_requested') or ''
        if current == ARGV[i + 1] then
            redis.call('HSET', key, 'stop_requested', ARGV[i + 2])
            asked = asked + 1
        else
            return -1  -- changed meanwhile: decide again
        end
    end
end
if asked > 0 then redis.call('PUBLISH', WAKE, 'stop') end
return asked
