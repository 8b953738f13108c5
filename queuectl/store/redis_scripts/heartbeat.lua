-- heartbeat: ARGV = prefix, worker id, lease seconds, then the held job ids.
-- Returns {stop request or "", {renewed ids}, {ids to cancel}}.
local now = clock()
local worker, lease = ARGV[2], tonumber(ARGV[3])
local wkey = P .. 'worker:' .. worker
local stop = ''
if redis.call('EXISTS', wkey) == 1 then
    redis.call('HSET', wkey, 'heartbeat_at', num(now))
    stop = redis.call('HGET', wkey, 'stop_requested') or ''
end
local renewed = {}
local lease_until = num(now + lease)
for i = 4, #ARGV do
    local id = ARGV[i]
    local owner = redis.call('HMGET', job_key(id), 'state', 'worker_id')
    if owner[1] == 'processing' and owner[2] == worker then
        redis.call('HSET', job_key(id), 'lease_expires_at', lease_until)
        redis.call('ZADD', P .. 'leases', lease_until, id)
        renewed[#renewed + 1] = id
    end
end
local cancel = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'running:' .. worker, 0, -1)) do
    if redis.call('HGET', job_key(id), 'cancel_requested') == '1' then
        cancel[#cancel + 1] = id
    end
end
return {stop, renewed, cancel}
