-- A decided end of an attempt (queuectl.rules.Finish), applied only while the guard
-- (rules.Held) holds; closes the attempt record with the run's result.
-- ARGV = prefix, job id, worker id, attempt, cancel_requested as decided on ("" = not
-- read), lease must still be expired ("1"/"0"), new state, run after seconds ("" = keep
-- run_at), counted ("1"/"0"), records result ("1"/"0"), exit code ("" = None),
-- error ("" = None), stdout, stderr, stdout bytes, stderr bytes.
-- Returns 1 when applied, 0 when the guard failed (then nothing changed).
local now = clock()
local id, worker, attempt = ARGV[2], ARGV[3], ARGV[4]
local job = load(id)
if not job or job.state ~= 'processing' or job.worker_id ~= worker
   or job.last_attempt ~= attempt then
    return 0
end
if ARGV[5] ~= '' and job.cancel_requested ~= ARGV[5] then return 0 end
if ARGV[6] == '1' and not (tonumber(job.lease_expires_at) < now) then return 0 end

local changes = {state = ARGV[7], updated_at = now, worker_id = false,
                 lease_expires_at = false, cancel_requested = '0'}
if ARGV[8] ~= '' then changes.run_at = now + tonumber(ARGV[8]) end
if ARGV[9] == '0' then changes.attempts = tonumber(job.attempts) - 1 end
if ARGV[10] == '1' then
    changes.exit_code = ARGV[11] ~= '' and ARGV[11] or false
    changes.last_error = ARGV[12] ~= '' and ARGV[12] or false
end
update(job, changes, now)

local akey = att_key(id, attempt)
if redis.call('HGET', akey, 'worker_id') == worker and redis.call('HEXISTS', akey, 'finished_at') == 0 then
    redis.call('HSET', akey, 'finished_at', num(now), 'stdout', ARGV[13], 'stderr', ARGV[14],
               'stdout_bytes', ARGV[15], 'stderr_bytes', ARGV[16])
    if ARGV[11] ~= '' then redis.call('HSET', akey, 'exit_code', ARGV[11]) end
    if ARGV[12] ~= '' then redis.call('HSET', akey, 'error', ARGV[12]) end
end
if waiting(job.state) and tonumber(job.run_at) <= now then
    redis.call('PUBLISH', WAKE, 'finish')
end
return 1
