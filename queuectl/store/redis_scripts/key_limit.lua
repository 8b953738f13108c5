-- set_key_limit: ARGV = prefix, concurrency key, its limit ("" = lift it: the default).
-- Brings back every parked job of the key (P.."parked:"..key) to the ready sets, in the
-- same script (the next claims park again those still over the limit), and wakes idle
-- workers.
local key, concurrency = ARGV[2], ARGV[3]
if concurrency == '' then
    redis.call('HDEL', P .. 'key_limits', key)
else
    redis.call('HSET', P .. 'key_limits', key, concurrency)
end
unpark(key, nil)
redis.call('PUBLISH', WAKE, 'limits')
return 1
