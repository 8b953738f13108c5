-- Decided ends of attempts (queuectl.rules.Finish), each applied only while its guard
-- (rules.Held) holds; each closes its attempt record with the run's result. Each is
-- guarded and applied on its own, as if one script call each; one call for a batch saves
-- the server a call and the client the encoding of every argument.
-- ARGV[2] = a MessagePack array of finishes, each an array of strings: job id, worker
-- id, attempt, cancel_requested as decided on ("" = not read), lease must still be
-- expired ("1"/"0"), new state, run after seconds ("" = keep run_at), counted ("1"/"0"),
-- records result ("1"/"0"), exit code ("" = None), error ("" = None), stdout bytes,
-- stderr bytes (in all, not just the tails); then ARGV[3], ARGV[4] = the first one's
-- stdout and stderr tails, ARGV[5], ARGV[6] the second one's, and so on (outputs are
-- bytes, which Redis's MessagePack decoder does not read).
-- Returns, in order, 1 for each applied, 0 for each whose guard failed (nothing changed).
local now = clock()
local stamp = num(now)  -- formatted once, not once a job
local wake = false  -- a job became due again (a retry at once): wake idle workers

local function finish(f, stdout, stderr)
    local id, worker, attempt = f[1], f[2], f[3]
    local job = load(id)
    if not job or job.state ~= 'processing' or job.worker_id ~= worker
       or job.last_attempt ~= attempt then
        return 0
    end
    if f[4] ~= '' and job.cancel_requested ~= f[4] then return 0 end
    if f[5] == '1' and not (tonumber(job.lease_expires_at) < now) then return 0 end

    local changes = {state = f[6], updated_at = stamp, worker_id = false,
                     lease_expires_at = false, cancel_requested = '0'}
    if f[7] ~= '' then changes.run_at = now + tonumber(f[7]) end
    if f[8] == '0' then changes.attempts = tonumber(job.attempts) - 1 end
    if f[9] == '1' then
        changes.exit_code = f[10] ~= '' and f[10] or false
        changes.last_error = f[11] ~= '' and f[11] or false
    end
    -- the attempt's record, read once: its start is the run's (count_move)
    local akey = att_key(id, attempt)
    local owner, finished, started = unpack(redis.call('HMGET', akey, 'worker_id',
                                                       'finished_at', 'started_at'))
    STARTED[akey] = started
    update(job, changes, now)

    if owner == worker and not finished then
        local fields = {'finished_at', stamp, 'stdout', stdout, 'stderr', stderr,
                        'stdout_bytes', f[12], 'stderr_bytes', f[13]}
        if f[10] ~= '' then
            fields[#fields + 1] = 'exit_code'
            fields[#fields + 1] = f[10]
        end
        if f[11] ~= '' then
            fields[#fields + 1] = 'error'
            fields[#fields + 1] = f[11]
        end
        redis.call('HSET', akey, unpack(fields))
    end
    wake = wake or waiting(job.state)  -- a retry, due now or later
    return 1
end

local applied = {}
for i, f in ipairs(cmsgpack.unpack(ARGV[2])) do
    applied[i] = finish(f, ARGV[1 + 2 * i], ARGV[2 + 2 * i])
end
if settle(now) or UNPARKED then wake = true end  -- UNPARKED: a key's slot freed
flush_counts()
if wake then redis.call('PUBLISH', WAKE, 'finish') end
return applied
