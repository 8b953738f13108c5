-- publish_output: ARGV = prefix, then per tail: job id, worker id, attempt, stdout,
-- stderr, stdout bytes, stderr bytes. Each only while that worker's attempt is open.
local updated = 0
for i = 2, #ARGV, 7 do
    local key = att_key(ARGV[i], ARGV[i + 2])
    if redis.call('HGET', key, 'worker_id') == ARGV[i + 1]
       and redis.call('HEXISTS', key, 'finished_at') == 0 then
        redis.call('HSET', key, 'stdout', ARGV[i + 3], 'stderr', ARGV[i + 4],
                   'stdout_bytes', ARGV[i + 5], 'stderr_bytes', ARGV[i + 6])
        updated = updated + 1
    end
end
return updated
