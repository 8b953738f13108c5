-- prune_workers: ARGV = prefix, dead for seconds. Forgets workers silent for longer.
local now = clock()
local gone = 0
for _, id in ipairs(redis.call('ZRANGE', P .. 'workers', 0, -1)) do
    local key = P .. 'worker:' .. id
    local beat = tonumber(redis.call('HGET', key, 'heartbeat_at') or '0')
    if beat < now - tonumber(ARGV[2]) then
        redis.call('DEL', key)
        redis.call('ZREM', P .. 'workers', id)
        gone = gone + 1
    end
end
return gone
