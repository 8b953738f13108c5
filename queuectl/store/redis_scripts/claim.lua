-- claim_jobs: ARGV = prefix, worker id, lease seconds, limit, this claim's token, the
-- tokens of this worker's claims whose answer was lost (space-separated), then the queues
-- (none = all). Moves waiting jobs whose time has come into the ready sets, then takes the
-- `limit` best (highest priority, then lowest seq) from the queues asked for. Returns the
-- claimed jobs (HGETALL arrays) in claim order: first those of a lost claim that are
-- still this worker's attempt (their lease renewed), so a claim applied just before the
-- connection broke is not left to expire. The last claim of each worker is kept for that
-- (P.."claim:"..worker: token, then "id attempt" lines), for two leases.
local now = clock()
local worker, lease, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local token, lost = ARGV[5], ' ' .. ARGV[6] .. ' '
local record_key = P .. 'claim:' .. worker
local claimed = {}
local record = {token}

local last = redis.call('GET', record_key)
if last and ARGV[6] ~= '' then
    local lines = {}
    for line in string.gmatch(last, '[^\n]+') do lines[#lines + 1] = line end
    if string.find(lost, ' ' .. lines[1] .. ' ', 1, true) then
        for i = 2, #lines do
            local id, n = string.match(lines[i], '^(%S+) (%S+)$')
            local job = load(id)
            if job and job.state == 'processing' and job.worker_id == worker
               and job.last_attempt == n then
                update(job, {lease_expires_at = now + lease}, now)
                claimed[#claimed + 1] = flatten(job)
                record[#record + 1] = id .. ' ' .. n
            end
        end
    end
end
limit = limit - #claimed

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', num(now))) do
    local job = load(id)
    redis.call('ZREM', P .. 'timers', id)
    if job and waiting(job.state) then make_ready(job) end
end

-- The candidates: per set, its best `limit` (score, then seq in the member's first 16
-- hex digits); merged across the queues' sets.
-- Paused queues (P.."paused", "*" = all) are skipped: with any paused, a claim of
-- every queue reads each waiting queue's own set instead of the shared one.
local picked = {}
local sets = {}
local paused = {}
for _, q in ipairs(redis.call('SMEMBERS', P .. 'paused')) do paused[q] = true end
if paused['*'] then
    sets = {}
elseif #ARGV >= 7 then
    for i = 7, #ARGV do
        if not paused[ARGV[i]] then sets[#sets + 1] = P .. 'ready:' .. ARGV[i] end
    end
elseif next(paused) == nil then
    sets[1] = P .. 'ready'
else
    local seen = {}
    for _, field in ipairs(redis.call('HKEYS', P .. 'counts')) do
        local s, q = string.match(field, '^([^|]+)|(.*)$')
        if waiting(s) and not paused[q] and not seen[q] then
            seen[q] = true
            sets[#sets + 1] = P .. 'ready:' .. q
        end
    end
end
for _, set in ipairs(limit > 0 and sets or {}) do
    local found = redis.call('ZRANGE', set, 0, limit - 1, 'WITHSCORES')
    for i = 1, #found, 2 do
        local m = found[i]
        picked[#picked + 1] = {tonumber(found[i + 1]), tonumber(string.sub(m, 1, 16), 16),
                               string.sub(m, 17)}
    end
end
if #sets > 1 then
    table.sort(picked, function(a, b)
        if a[1] ~= b[1] then return a[1] < b[1] end
        return a[2] < b[2]
    end)
end

for i = 1, math.min(limit, #picked) do
    local job = load(picked[i][3])
    local n = tonumber(job.last_attempt) + 1
    update(job, {
        state = 'processing', attempts = tonumber(job.attempts) + 1, last_attempt = n,
        worker_id = worker, lease_expires_at = now + lease, updated_at = now,
        cancel_requested = '0',
    }, now)
    redis.call('HSET', att_key(job.id, n), 'job_id', job.id, 'attempt', n,
               'worker_id', worker, 'started_at', num(now))
    claimed[#claimed + 1] = flatten(job)
    record[#record + 1] = job.id .. ' ' .. n
end
if #claimed > 0 then  -- an idle worker's empty claims write nothing
    redis.call('SET', record_key, table.concat(record, '\n'), 'PX', math.ceil(2000 * lease))
end
flush_counts()
return claimed
