-- Operators' changes to several jobs, all or none, each guarded by the state (and
-- last_attempt) it was decided from. ARGV = prefix, then per job: id, expected state,
-- expected last_attempt, action ("delete" or "set"), n, then n (field, value) pairs.
-- A value is "s" .. text (set), "n" (now), "d" (remove), "o" .. text (the job's own
-- max_retries if it set one, else this default: queuectl.rules.max_retries_for).
-- Returns {"ok", ids brought back...}, {"changed", id} or {"unique", id} (a job it would
-- put back to waiting whose unique key another job holds): then nothing is written and
-- the caller decides again.
local now = clock()
local jobs = {}
local i = 2
while i <= #ARGV do
    local id, state, attempt, action, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
                                          tonumber(ARGV[i + 4])
    local job = load(id)
    if not job or job.state ~= state or job.last_attempt ~= attempt then
        return {'changed', id}
    end
    local changes = {}
    for k = i + 5, i + 4 + 2 * n, 2 do
        local kind, text = string.sub(ARGV[k + 1], 1, 1), string.sub(ARGV[k + 1], 2)
        if kind == 's' then changes[ARGV[k]] = text
        elseif kind == 'n' then changes[ARGV[k]] = now
        elseif kind == 'd' then changes[ARGV[k]] = false
        else changes[ARGV[k]] = job.own_max_retries or text end
    end
    jobs[#jobs + 1] = {job, action, changes}
    i = i + 5 + 2 * n
end
local taken = {}
for _, item in ipairs(jobs) do
    local job, changes = item[1], item[3]
    local to = changes.state or job.state
    if item[2] == 'set' and job.unique_key and not holds_key(job)
       and (waiting(to) or to == 'processing') then
        local holder = taken[job.unique_key] or redis.call('HGET', P .. 'unique', job.unique_key)
        if holder and holder ~= job.id then return {'unique', job.id} end
        taken[job.unique_key] = job.id
    end
end
local wake = false
for _, item in ipairs(jobs) do
    local job, action, changes = item[1], item[2], item[3]
    if action == 'delete' then
        delete(job)
    else
        changes.updated_at = now
        update(job, changes, now)
        if (waiting(job.state) and tonumber(job.run_at) <= now)
           or changes.cancel_requested == '1' then
            wake = true
        end
    end
end
if settle(now) or #BROUGHT_BACK > 0 or UNPARKED then wake = true end
flush_counts()
if wake then redis.call('PUBLISH', WAKE, 'change') end
local answer = {'ok'}
for _, id in ipairs(BROUGHT_BACK) do answer[#answer + 1] = id end
return answer
