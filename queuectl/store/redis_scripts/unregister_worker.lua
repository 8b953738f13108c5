-- unregister_worker: ARGV = prefix, worker id.
redis.call('DEL', P .. 'worker:' .. ARGV[2])
redis.call('ZREM', P .. 'workers', ARGV[2])
return 1
