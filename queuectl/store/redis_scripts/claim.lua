-- claim_jobs: ARGV = prefix, worker id, lease seconds, limit, this claim's token, the
-- tokens of this claimer's claims whose answer was lost (space-separated), the claimer
-- (the worker's process that claims: a worker may run several), then the queues (none =
-- all). Moves waiting jobs whose time has come into the ready sets, then takes the
-- `limit` best (highest priority, then lowest seq) from the queues asked for. Returns the
-- claimed jobs (HGETALL arrays) in claim order: first those of a lost claim that are
-- still this worker's attempt (their lease renewed), so a claim applied just before the
-- connection broke is not left to expire. The last claim of each claimer is kept for that
-- (P.."claim:"..claimer: token, then "id attempt" lines), for two leases: per process, so
-- another process of the same worker claiming in between does not overwrite it.
local now = clock()
local worker, lease, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local stamp, lease_until = num(now), num(now + lease)  -- formatted once, not once a job
local token, lost = ARGV[5], ' ' .. ARGV[6] .. ' '
local record_key = P .. 'claim:' .. ARGV[7]
local claimed = {}
local record = {token}

-- The job as stored after update(job, changes) (which removed no field): `flat`, read
-- before, with the changed values put in place and the new fields added (no array of the
-- whole job built again).
local function as_stored(flat, job, changes)
    local seen = {}
    for i = 1, #flat, 2 do
        local k = flat[i]
        if changes[k] ~= nil then
            flat[i + 1] = job[k]
            seen[k] = true
        end
    end
    for k in pairs(changes) do
        if not seen[k] then
            flat[#flat + 1] = k
            flat[#flat + 1] = job[k]
        end
    end
    return flat
end

local last = redis.call('GET', record_key)
if last and ARGV[6] ~= '' then
    local lines = {}
    for line in string.gmatch(last, '[^\n]+') do lines[#lines + 1] = line end
    if string.find(lost, ' ' .. lines[1] .. ' ', 1, true) then
        for i = 2, #lines do
            local id, n = string.match(lines[i], '^(%S+) (%S+)$')
            local job, flat = load(id)
            if job and job.state == 'processing' and job.worker_id == worker
               and job.last_attempt == n then
                local changes = {lease_expires_at = lease_until}
                update(job, changes, now)
                claimed[#claimed + 1] = as_stored(flat, job, changes)
                record[#record + 1] = id .. ' ' .. n
            end
        end
    end
end
limit = limit - #claimed

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', num(now))) do
    local f = redis.call('HMGET', job_key(id), 'state', 'seq', 'priority', 'queue')
    redis.call('ZREM', P .. 'timers', id)
    if f[1] and waiting(f[1]) then
        make_ready({id = id, state = f[1], seq = f[2], priority = f[3], queue = f[4]})
    end
end

-- Limits (queuectl/limits.py; the same plan as limited_claims.py): with any queue limit
-- or keyed job, a claim reads each waiting queue's own set, leaves out the sets of full
-- queues (and of those that fill during the claim), and parks the due jobs whose key is
-- full (P.."parked:"..key, common.lua): later claims no longer read them, and each slot
-- of the key freed brings its best one back. Every job it takes counts at once, so a
-- batch never exceeds a limit. A rate-limited queue starts at most one job a claim, and
-- then not before its interval has passed.
local limited = redis.call('HLEN', P .. 'queue_limits') > 0
    or redis.call('HLEN', P .. 'key_jobs') > 0
local queue_room, rated, key_room, started = {}, {}, {}, {}
if limited then
    local found = redis.call('HGETALL', P .. 'queue_limits')
    for i = 1, #found, 2 do
        local q = found[i]
        local c, rc, rp, nx = string.match(found[i + 1], '^(%S+) (%S+) (%S+) (%S+)$')
        local room = 1000000000
        if c ~= '-' then
            room = tonumber(c) - count_of('processing|' .. q)
        end
        if rc ~= '-' then
            rated[q] = {tonumber(rp) / tonumber(rc), c, rc, rp}
            if tonumber(nx) > now + 1e-9 then room = 0 else room = math.min(room, 1) end
        end
        queue_room[q] = room
    end
end

local function room_of_key(key)
    if key_room[key] == nil then
        local own = redis.call('HGET', P .. 'key_limits', key)
        local running = redis.call('HGET', P .. 'key_running', key)
        key_room[key] = tonumber(own or '1') - tonumber(running or '0')
    end
    return key_room[key]
end

local function full(q) return queue_room[q] ~= nil and queue_room[q] <= 0 end

-- true (taken: counted against its queue and key), or why not: 'queue' or 'key'.
local function admit(job)
    if not limited then return true end
    local q, key = job.queue, job.concurrency_key
    if full(q) then return 'queue' end
    if key and room_of_key(key) <= 0 then return 'key' end
    if queue_room[q] ~= nil then
        queue_room[q] = queue_room[q] - 1
        if rated[q] then started[q] = true end
    end
    if key then key_room[key] = key_room[key] - 1 end
    return true
end

-- The sets read: {key, queue (nil for the shared set)}.
-- Paused queues (P.."paused", "*" = all) are skipped: with any paused, a claim of
-- every queue reads each waiting queue's own set instead of the shared one.
local sets = {}
local paused = {}
for _, q in ipairs(redis.call('SMEMBERS', P .. 'paused')) do paused[q] = true end
local function open(q) return not paused[q] and not full(q) end
if paused['*'] then
    sets = {}
elseif #ARGV >= 8 then
    for i = 8, #ARGV do
        if open(ARGV[i]) then sets[#sets + 1] = {P .. 'ready:' .. ARGV[i], ARGV[i]} end
    end
elseif next(paused) == nil and not limited then
    sets[1] = {P .. 'ready', nil}
else
    local seen = {}
    for _, field in ipairs(redis.call('HKEYS', P .. 'counts')) do
        local s, q = string.match(field, '^([^|]+)|(.*)$')
        if waiting(s) and open(q) and not seen[q] then
            seen[q] = true
            sets[#sets + 1] = {P .. 'ready:' .. q, q}
        end
    end
end

local took = 0
local function take(job, flat)
    took = took + 1
    local n = num(tonumber(job.last_attempt) + 1)  -- a string: formatted once
    local changes = {
        state = 'processing', attempts = tonumber(job.attempts) + 1, last_attempt = n,
        worker_id = worker, lease_expires_at = lease_until, updated_at = stamp,
        cancel_requested = '0',
    }
    update(job, changes, now)
    redis.call('HSET', att_key(job.id, n), 'job_id', job.id, 'attempt', n,
               'worker_id', worker, 'started_at', stamp)
    claimed[#claimed + 1] = as_stored(flat, job, changes)
    record[#record + 1] = job.id .. ' ' .. n
end

-- A claim parks at most this many jobs (its time stays bounded; later claims park the
-- rest: when it stops for that, it wakes idle workers, itself included, to go on).
local PARK_AT_MOST = 1000
local parked = 0
local function park(c, key)
    redis.call('ZREM', P .. 'ready', c[4])
    redis.call('ZREM', P .. 'ready:' .. c[5], c[4])
    redis.call('ZADD', P .. 'parked:' .. key, c[1], c[4])
    redis.call('HSET', job_key(c[3]), 'parked', '1')
    parked = parked + 1
end

-- Candidates {score, seq, id, member, queue}: claim order is the score, then the seq in
-- the member's first 16 hex digits.
local function before(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
end

-- Rounds: each reads the best of every set (a window past the batch when limited),
-- merged, and goes through them in claim order up to the first set's window end (past
-- it, a set not read further may hold better ones). What a round passes over leaves the
-- sets (taken or parked) or its queue filled (its set is no longer read), so the next
-- round reads on from where it stopped.
local budget_hit = false
while limit - took > 0 and #sets > 0 and not budget_hit do
    local window = limit - took
    if limited then window = window + 100 end
    local picked, edge = {}, nil
    for _, set in ipairs(sets) do
        local found = redis.call('ZRANGE', set[1], 0, window - 1, 'WITHSCORES')
        for i = 1, #found, 2 do
            local m = found[i]
            picked[#picked + 1] = {tonumber(found[i + 1]), tonumber(string.sub(m, 1, 16), 16),
                                   string.sub(m, 17), m, set[2]}
        end
        if #found == 2 * window and (edge == nil or before(picked[#picked], edge)) then
            edge = picked[#picked]
        end
    end
    if #picked == 0 then break end
    if #sets > 1 then table.sort(picked, before) end
    for _, c in ipairs(picked) do
        if took >= limit then break end
        if edge ~= nil and before(edge, c) and not budget_hit then break end
        if not (c[5] and full(c[5])) then  -- a queue filled by this claim: not parked
            local job, flat = load(c[3])
            local verdict = admit(job)
            if verdict == true then
                take(job, flat)
            elseif verdict == 'key' then
                if parked < PARK_AT_MOST then
                    park(c, job.concurrency_key)
                else  -- the rest of this round is still read, and nothing more
                    budget_hit = true
                end
            end
        end
    end
    if not limited then break end
    local kept = {}
    for _, set in ipairs(sets) do
        if not full(set[2]) then kept[#kept + 1] = set end
    end
    sets = kept
end
if budget_hit and took < limit then redis.call('PUBLISH', WAKE, 'park') end
for q in pairs(started) do
    local r = rated[q]
    redis.call('HSET', P .. 'queue_limits', q,
               r[2] .. ' ' .. r[3] .. ' ' .. r[4] .. ' ' .. num(now + r[1]))
end
if #claimed > 0 then  -- an idle worker's empty claims write nothing
    redis.call('SET', record_key, table.concat(record, '\n'), 'PX', math.ceil(2000 * lease))
end
flush_counts()
return claimed
