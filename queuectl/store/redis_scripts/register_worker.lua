-- register_worker: ARGV = prefix, id, host, pid, queues (comma-separated), slots.
-- Registering an id again replaces the worker whole (a restart under the same id).
local now = clock()
local key = P .. 'worker:' .. ARGV[2]
redis.call('DEL', key)
redis.call('HSET', key, 'id', ARGV[2], 'host', ARGV[3], 'pid', ARGV[4], 'queues', ARGV[5],
           'slots', ARGV[6], 'started_at', num(now), 'heartbeat_at', num(now))
redis.call('ZADD', P .. 'workers', num(now), ARGV[2])
return 1
