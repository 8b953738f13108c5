-- queuectl on Redis: the key layout and the index upkeep every script shares.
-- redis.py prepends this file to each script; ARGV[1] is the key prefix, ARGV[2] how far
-- the caller's clock runs ahead of the server's (Store.advance_clock, for tests), taken
-- off ARGV here, so each script's own arguments start at ARGV[2].
--
-- Keys (P = the prefix):
--   P.."job:"..id           hash: the job's fields (absent field = None)
--   P.."att:"..id..":"..n   hash: attempt n of the job (1 .. last_attempt)
--   P.."seq"                counter: the last job seq handed out
--   P.."all"                zset seq -> id: every job (listing order)
--   P.."ids"                zset 0 -> id: every job, for id-prefix ranges (ZRANGEBYLEX)
--   P.."state:"..s          zset seq -> id: the jobs in state s
--   P.."counts"             hash "state|queue" -> jobs (index/unindex tally the changes,
--                           flush_counts writes them; count_of reads in between)
--   P.."ready" / P.."ready:"..q   zset -priority -> seq(16 hex)..id: due waiting jobs
--   P.."parked:"..key       zset, as the ready sets: due waiting jobs of concurrency key
--                           `key` that a claim passed over because the key was full;
--                           out of the ready sets, their hash has field parked = "1"
--                           (a claim parks them; each slot of the key freed brings its
--                           best one back, and any index move of one brings it back)
--   P.."timers"             zset run_at -> id: waiting jobs not yet due (moved to ready
--                           by the next claim once due)
--   P.."pending_at:"..q     zset run_at -> id: pending jobs not blocked (scheduled counts,
--                           oldest due)
--   P.."blocked"            zset seq -> id: pending jobs waiting for jobs they run after
--   P.."ended:"..s          zset updated_at -> id: finished jobs in state s (retention
--                           prunes the oldest first; schema version 2)
--   P.."parents:"..id / P.."children:"..id   sets: the jobs it runs after / those after it
--   P.."leases"             zset lease_expires_at -> id: processing jobs
--   P.."running:"..w        zset seq -> id: processing jobs of worker w
--   P.."unique"             hash unique key -> id: the job holding it (pending, failed or
--                           processing; kept by index/unindex, so every move keeps it)
--   P.."config"             hash key -> value
--   P.."worker:"..w / P.."workers"   hash of a worker / zset started_at -> id
--   P.."metrics" / P.."metric_seconds"  hash "kind|queue|outcome|le" -> n / seconds
--   P.."minutes"            hash slot -> "minute completed failed" (a ring of 1440)
--   P.."wake"               the pub/sub channel idle workers listen on
--   P.."queue_limits"       hash queue -> "concurrency rate_count rate_period next_start"
--                           ("-" = none): queues with a limit (queuectl/limits.py)
--   P.."key_limits"         hash key -> its own concurrency limit (default 1)
--   P.."key_running" / P.."key_jobs"   hash key -> its jobs processing / unfinished
--                           (kept by index and unindex; a field at 0 is removed)
-- Times are the server's clock (TIME), epoch seconds.

local P = ARGV[1]
local CLOCK_OFFSET = tonumber(table.remove(ARGV, 2))
local WAKE = P .. 'wake'
local BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
                 600, 1800, 3600}

local function clock()
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1000000 + CLOCK_OFFSET
end

-- A number as Redis should keep it: integers exactly, others with every digit.
local function num(x)
    if x == math.floor(x) and math.abs(x) < 1e15 then
        return string.format('%d', x)
    end
    return string.format('%.17g', x)
end

local function job_key(id) return P .. 'job:' .. id end
local function att_key(id, n) return P .. 'att:' .. id .. ':' .. n end

-- A job's fields as a table (nil: no such job), and the HGETALL array they came from.
local function load(id)
    local flat = redis.call('HGETALL', job_key(id))
    if #flat == 0 then return nil end
    local job = {}
    for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
    return job, flat
end

local function flatten(job)
    local out = {}
    for k, v in pairs(job) do
        out[#out + 1] = k
        out[#out + 1] = v
    end
    return out
end

local function waiting(state) return state == 'pending' or state == 'failed' end
local function is_blocked(job)
    return job.state == 'pending' and tonumber(job.blockers or '0') > 0
end

local function holds_key(job)
    return job.unique_key ~= nil and (waiting(job.state) or job.state == 'processing')
end

local function ready_member(job)
    return string.format('%016x', tonumber(job.seq)) .. job.id
end

-- The changes of P.."counts" that index() and unindex() made, written once at the end of
-- the script (flush_counts): a field a queue and state, not two HINCRBY a job moved.
local count_changes = {}

local function add_count(field, by)
    count_changes[field] = (count_changes[field] or 0) + by
end

-- A field of P.."counts" as it stands, changes not yet written included.
local function count_of(field)
    return tonumber(redis.call('HGET', P .. 'counts', field) or '0') + (count_changes[field] or 0)
end

-- Variadic calls take a chunk at a time: unpack() is bounded by Lua's C stack (8,000).
local CHUNK = 1000

-- Parking (P.."parked:"..key): the slots each key's jobs left during the current update
-- or delete (processing jobs unindexed, less those indexed again: a lease renewed frees
-- nothing), and whether a parked job came back (the script then wakes idle workers).
local FREED = {}
local UNPARKED = false

-- Whether queue q may start a job now (not paused, under its concurrency, its rate's
-- next start come): a key's freed slot goes to its best parked job in such a queue.
local function queue_open(q)
    if redis.call('SISMEMBER', P .. 'paused', q) == 1
       or redis.call('SISMEMBER', P .. 'paused', '*') == 1 then
        return false
    end
    local limit = redis.call('HGET', P .. 'queue_limits', q)
    if not limit then return true end
    local c, rc, _, nx = string.match(limit, '^(%S+) (%S+) (%S+) (%S+)$')
    if c ~= '-' and count_of('processing|' .. q) >= tonumber(c) then
        return false
    end
    return rc == '-' or tonumber(nx) <= clock()
end

-- How many jobs of a full queue a freed slot brings back on its way to one that can start
-- (they wait in their queue's set, as any job of a full queue does).
local HAND_ON = 100

-- Bring back the `n` best parked jobs of `key` (all of them when n is nil) to the ready
-- sets, in claim order. With n, a job whose queue cannot start now does not count (the
-- next one is brought back too), so no slot of the key stays idle while one of its jobs
-- could start.
local function unpark(key, n)
    local set = P .. 'parked:' .. key
    local extra = 0
    while n == nil or (n > 0 and extra <= HAND_ON) do
        local popped = redis.call('ZPOPMIN', set, n == nil and CHUNK or 1)
        if #popped == 0 then return end
        for i = 1, #popped, 2 do
            local m, score = popped[i], popped[i + 1]
            local id = string.sub(m, 17)
            local q = redis.call('HGET', job_key(id), 'queue')
            if q then
                redis.call('ZADD', P .. 'ready', score, m)
                redis.call('ZADD', P .. 'ready:' .. q, score, m)
                redis.call('HDEL', job_key(id), 'parked')
                UNPARKED = true
                if n ~= nil then
                    if queue_open(q) then n = n - 1 else extra = extra + 1 end
                end
            end
        end
    end
end

local function unpark_freed()
    for key, n in pairs(FREED) do
        if n > 0 then unpark(key, n) end
    end
    FREED = {}
end

-- A keyed job's counters (queuectl/limits.py): `by` is +1 as it is indexed, -1 as it
-- leaves its index, so they follow every insert, move and delete.
local function count_key(job, by)
    local key = job.concurrency_key
    if not key or not (waiting(job.state) or job.state == 'processing') then return end
    if job.state == 'processing' then FREED[key] = (FREED[key] or 0) - by end
    for _, hash in ipairs(job.state == 'processing' and {'key_jobs', 'key_running'}
                          or {'key_jobs'}) do
        if redis.call('HINCRBY', P .. hash, key, by) <= 0 then
            redis.call('HDEL', P .. hash, key)
        end
    end
end

local function unindex(job)
    local id, q, s = job.id, job.queue, job.state
    count_key(job, -1)
    add_count(s .. '|' .. q, -1)
    redis.call('ZREM', P .. 'state:' .. s, id)
    if s == 'completed' or s == 'dead' or s == 'cancelled' then
        redis.call('ZREM', P .. 'ended:' .. s, id)
    end
    -- as index() placed it: a blocked job only in the blocked set (blockers going to or
    -- from 0 moves it, update())
    if is_blocked(job) then
        redis.call('ZREM', P .. 'blocked', id)
    elseif waiting(s) then
        -- in the ready sets, or else in timers or parked (never two of them)
        local m = ready_member(job)
        if redis.call('ZREM', P .. 'ready', m) == 0 then
            redis.call('ZREM', P .. 'timers', id)
        end
        redis.call('ZREM', P .. 'ready:' .. q, m)
        if job.parked then  -- index() makes it claimable again
            redis.call('ZREM', P .. 'parked:' .. job.concurrency_key, m)
            redis.call('HDEL', job_key(id), 'parked')
            job.parked = nil
        end
        if s == 'pending' then redis.call('ZREM', P .. 'pending_at:' .. q, id) end
    end
    if s == 'processing' then
        redis.call('ZREM', P .. 'leases', id)
        redis.call('ZREM', P .. 'running:' .. job.worker_id, id)
    end
    if holds_key(job) and redis.call('HGET', P .. 'unique', job.unique_key) == id then
        redis.call('HDEL', P .. 'unique', job.unique_key)
    end
end

local function make_ready(job)
    local m = ready_member(job)
    local score = -tonumber(job.priority)
    redis.call('ZADD', P .. 'ready', score, m)
    redis.call('ZADD', P .. 'ready:' .. job.queue, score, m)
end

local function index(job, now)
    local id, q, s, seq = job.id, job.queue, job.state, job.seq
    count_key(job, 1)
    add_count(s .. '|' .. q, 1)
    redis.call('ZADD', P .. 'state:' .. s, seq, id)
    if s == 'completed' or s == 'dead' or s == 'cancelled' then
        redis.call('ZADD', P .. 'ended:' .. s, job.updated_at, id)
    end
    if is_blocked(job) then
        redis.call('ZADD', P .. 'blocked', seq, id)
    elseif waiting(s) then
        if tonumber(job.run_at) <= now then
            make_ready(job)
        else
            redis.call('ZADD', P .. 'timers', job.run_at, id)
        end
        if s == 'pending' then redis.call('ZADD', P .. 'pending_at:' .. q, job.run_at, id) end
    end
    if s == 'processing' then
        redis.call('ZADD', P .. 'leases', job.lease_expires_at, id)
        redis.call('ZADD', P .. 'running:' .. job.worker_id, seq, id)
    end
    if holds_key(job) then redis.call('HSET', P .. 'unique', job.unique_key, id) end
end

-- Metrics and the per-minute ring are tallied in memory while a script runs and written
-- once at its end (flush_counts), so a batch of jobs costs a few writes, not a few each.
-- Every script that changes a job's state (through update or delete) ends with
-- flush_counts(), which also writes the counts' changes (count_changes).
local tallied, tallied_seconds, minute_tally = {}, {}, {}
local LE = {}  -- bucket bound -> its label, num(bound), formatted once a script

-- One observation in its histogram bucket (le 0 for "end": no duration).
local function observe(kind, queue, outcome, seconds)
    local le = '0'
    if seconds ~= nil then
        le = '+Inf'
        for _, bound in ipairs(BUCKETS) do
            if seconds <= bound then
                le = LE[bound] or num(bound)
                LE[bound] = le
                break
            end
        end
    end
    local field = kind .. '|' .. queue .. '|' .. outcome .. '|' .. le
    tallied[field] = (tallied[field] or 0) + 1
    tallied_seconds[field] = (tallied_seconds[field] or 0) + (seconds or 0)
end

local function count_minute(state, now)
    local minute = math.floor(now / 60)
    local counts = minute_tally[minute] or {0, 0}
    if state == 'completed' then counts[1] = counts[1] + 1 else counts[2] = counts[2] + 1 end
    minute_tally[minute] = counts
end

local function flush_counts()
    for field, n in pairs(count_changes) do
        if n ~= 0 then redis.call('HINCRBY', P .. 'counts', field, n) end
    end
    count_changes = {}
    for field, n in pairs(tallied) do
        redis.call('HINCRBY', P .. 'metrics', field, n)
        redis.call('HINCRBYFLOAT', P .. 'metric_seconds', field, num(tallied_seconds[field]))
    end
    for minute, counts in pairs(minute_tally) do
        local slot = minute % 1440
        local kept = redis.call('HGET', P .. 'minutes', slot)
        local done, failed = counts[1], counts[2]
        if kept then
            local a, b, c = string.match(kept, '^(%S+) (%S+) (%S+)$')
            if tonumber(a) == minute then
                done, failed = done + tonumber(b), failed + tonumber(c)
            end
        end
        redis.call('HSET', P .. 'minutes', slot,
                   num(minute) .. ' ' .. num(done) .. ' ' .. num(failed))
    end
    tallied, tallied_seconds, minute_tally = {}, {}, {}
end

-- Attempt key -> its started_at, for a script that read the attempt's record already
-- (finish.lua): count_move then does not read it again.
local STARTED = {}

-- What a state change counts: a claim's wait, an attempt's run, a waiting job's end.
-- `from`, `run_at`, `created_at`, `last_attempt`: the job's before the change.
local function count_move(from, run_at, created_at, last_attempt, job, now)
    local to = job.state
    if from == to then return end
    if to == 'processing' then
        local due = math.max(tonumber(run_at), tonumber(created_at))
        observe('wait', job.queue, '', math.max(now - due, 0))
    elseif to == 'completed' or to == 'failed' or to == 'dead' or to == 'cancelled' then
        if from == 'processing' then
            local akey = att_key(job.id, last_attempt)
            local started = STARTED[akey]
            if started == nil then started = redis.call('HGET', akey, 'started_at') end
            observe('run', job.queue, to, math.max(now - tonumber(started or now), 0))
            if to ~= 'cancelled' then count_minute(to, now) end
        else
            observe('end', job.queue, to, nil)
        end
    end
end

-- Change a stored job: `changes` maps fields to new values (false = remove the field);
-- every index and counter follows, and only the fields whose value changes are written
-- (`job` must hold every field it changes or removes, and those the indexes read).
-- Returns the job as now stored.
local INDEXED = {state = true, queue = true, run_at = true, priority = true,
                 lease_expires_at = true, worker_id = true, concurrency_key = true}

-- Workflows (queuectl/workflow.py decides; AFTER_RULES, put before this file by
-- redis_client.py, maps each end state to {met = modes, never = modes, note = text}).
-- update() notes the jobs that ended and those put back to pending from an end; settle()
-- then releases, cancels or brings back the jobs after them, down the graph, in the same
-- script, as a worklist (no recursion, however long the chain).
local ENDED, REOPENED, BROUGHT_BACK = {}, {}, {}
local FINAL = {completed = true, dead = true, cancelled = true}

local function has(list, value)
    for _, v in ipairs(list or {}) do if v == value then return true end end
    return false
end

local function outcome(state, mode)
    if not FINAL[state] then return 'waits' end
    if has(AFTER_RULES[state].met, mode) then return 'met' end
    return 'never'
end

-- Whether setting field `k` to `v` moves the job in the indexes: for `blockers`, only
-- when it starts or stops being more than 0 (a fan-in's job is counted down a thousand
-- times, and only the last one makes it claimable).
local function moves_in_indexes(job, k, v)
    if k == 'blockers' then
        local now_waits = tonumber(job.blockers or '0') > 0
        return (v and tonumber(v) > 0 or false) ~= now_waits
    end
    if v == false then return INDEXED[k] and job[k] ~= nil end  -- false: the field goes
    return INDEXED[k] and v ~= job[k]
end

local function update(job, changes, now)
    local moves = false
    for k, v in pairs(changes) do
        if moves_in_indexes(job, k, v) then moves = true break end
    end
    if moves then unindex(job) end
    local from, run_at, created_at, last_attempt = job.state, job.run_at, job.created_at,
                                                   job.last_attempt
    local set, gone = {}, nil
    for k, v in pairs(changes) do
        if v == false then
            if job[k] ~= nil then
                gone = gone or {}
                gone[#gone + 1] = k
                job[k] = nil
            end
        else
            if type(v) == 'number' then v = num(v) end
            if job[k] ~= v then
                job[k] = v
                set[#set + 1] = k
                set[#set + 1] = v
            end
        end
    end
    if #set > 0 then redis.call('HSET', job_key(job.id), unpack(set)) end
    if gone then redis.call('HDEL', job_key(job.id), unpack(gone)) end
    if moves then
        index(job, now)
    elseif FINAL[job.state] and changes.updated_at then  -- keep its place by age
        redis.call('ZADD', P .. 'ended:' .. job.state, job.updated_at, job.id)
    end
    unpark_freed()
    count_move(from, run_at, created_at, last_attempt, job, now)
    if from ~= job.state then
        if FINAL[job.state] and not FINAL[from] then
            ENDED[#ENDED + 1] = {job.id, job.state, job.dependents}
        elseif FINAL[from] and job.state == 'pending' then
            REOPENED[#REOPENED + 1] = job.id
        end
    end
    return job
end

local function unended_parents(id)
    local n = 0
    for _, parent in ipairs(redis.call('SMEMBERS', P .. 'parents:' .. id)) do
        local state = redis.call('HGET', job_key(parent), 'state')
        if state and not FINAL[state] then n = n + 1 end
    end
    return n
end

local function never_parent(id, mode)
    for _, parent in ipairs(redis.call('SMEMBERS', P .. 'parents:' .. id)) do
        local state = redis.call('HGET', job_key(parent), 'state')
        if state and outcome(state, mode) == 'never' then return true end
    end
    return false
end

-- Returns whether a job after another was released or cancelled (then idle workers and
-- watchers are woken).
local function settle(now)
    local released = false
    local i, j = 1, 1
    while i <= #ENDED or j <= #REOPENED do
        if i <= #ENDED then
            local parent, state, dependents = ENDED[i][1], ENDED[i][2], ENDED[i][3]
            i = i + 1
            -- `dependents` never counts fewer than its children (a deleted child stays
            -- counted): at "0" there is no set to read
            local children = {}
            if dependents ~= '0' then
                children = redis.call('SMEMBERS', P .. 'children:' .. parent)
            end
            for _, id in ipairs(children) do
                local child = load(id)
                if child and child.state == 'pending' and child.after_mode then
                    local seen = outcome(state, child.after_mode)
                    if seen == 'met' and tonumber(child.blockers) > 0 then
                        update(child, {blockers = tonumber(child.blockers) - 1}, now)
                        released = released or tonumber(child.blockers) == 0
                    elseif seen == 'never' then
                        released = true
                        update(child, {state = 'cancelled', blockers = 0, updated_at = now,
                                       cancel_requested = '0', cancelled_by = parent,
                                       last_error = 'after ' .. parent .. AFTER_RULES[state].note},
                               now)
                    end
                end
            end
        else
            local parent = REOPENED[j]
            j = j + 1
            local job = load(parent)
            if job and job.after_mode then
                update(job, {blockers = unended_parents(parent), cancelled_by = false}, now)
            end
            for _, id in ipairs(redis.call('SMEMBERS', P .. 'children:' .. parent)) do
                local child = load(id)
                -- one whose unique key another job took meanwhile stays cancelled
                if child and child.state == 'cancelled' and child.cancelled_by == parent
                   and not never_parent(id, child.after_mode)
                   and not (child.unique_key
                            and redis.call('HEXISTS', P .. 'unique', child.unique_key) == 1) then
                    BROUGHT_BACK[#BROUGHT_BACK + 1] = id
                    update(child, {state = 'pending', cancelled_by = false, last_error = false,
                                   exit_code = false, attempts = 0, run_at = now,
                                   updated_at = now, blockers = unended_parents(id)}, now)
                end
            end
        end
    end
    ENDED, REOPENED = {}, {}
    return released
end

local function zadd_flat(key, flat)
    for first = 1, #flat, 2 * CHUNK do
        redis.call('ZADD', key, unpack(flat, first, math.min(first + 2 * CHUNK - 1, #flat)))
    end
end

-- New pending jobs (their hashes written): every index their listing and index() keep,
-- as one ZADD a set and one HINCRBY a queue for the whole batch (a call a job per set
-- cost three quarters of a bulk enqueue). Keep in step with index() (a new job is never
-- parked). Each job needs its id, queue, priority, state, seq, run_at, blockers and
-- concurrency_key.
local function index_new(jobs, now)
    -- Arrays filled through counters of their own: `#t + 1` searches for the end of the
    -- array each time, a cost the hundred thousand jobs of a bulk paid six times each.
    local all, ids, pending, blocked, ready, timers = {}, {}, {}, {}, {}, {}
    local n_all, n_blocked, n_ready, n_timers = 0, 0, 0, 0
    local by_queue, counts = {}, {}  -- queue -> {ready pairs, pending_at pairs, sizes}
    for _, job in ipairs(jobs) do
        local id, q, seq = job.id, job.queue, job.seq
        if job.concurrency_key then count_key(job, 1) end
        all[n_all + 1], all[n_all + 2] = seq, id
        ids[n_all + 1], ids[n_all + 2] = 0, id
        pending[n_all + 1], pending[n_all + 2] = seq, id
        n_all = n_all + 2
        counts[q] = (counts[q] or 0) + 1
        if job.unique_key then redis.call('HSET', P .. 'unique', job.unique_key, id) end
        if is_blocked(job) then
            blocked[n_blocked + 1], blocked[n_blocked + 2] = seq, id
            n_blocked = n_blocked + 2
        else
            local own = by_queue[q]
            if not own then
                own = {{}, {}, 0, 0}
                by_queue[q] = own
            end
            local run_at = job.run_at
            if tonumber(run_at) <= now then
                local m, score, at = ready_member(job), -tonumber(job.priority), own[3]
                ready[n_ready + 1], ready[n_ready + 2] = score, m
                n_ready = n_ready + 2
                own[1][at + 1], own[1][at + 2] = score, m
                own[3] = at + 2
            else
                timers[n_timers + 1], timers[n_timers + 2] = run_at, id
                n_timers = n_timers + 2
            end
            local at = own[4]
            own[2][at + 1], own[2][at + 2] = run_at, id
            own[4] = at + 2
        end
    end
    zadd_flat(P .. 'all', all)
    zadd_flat(P .. 'ids', ids)
    zadd_flat(P .. 'state:pending', pending)
    zadd_flat(P .. 'blocked', blocked)
    zadd_flat(P .. 'ready', ready)
    zadd_flat(P .. 'timers', timers)
    for q, own in pairs(by_queue) do
        zadd_flat(P .. 'ready:' .. q, own[1])
        zadd_flat(P .. 'pending_at:' .. q, own[2])
    end
    for q, k in pairs(counts) do redis.call('HINCRBY', P .. 'counts', 'pending|' .. q, k) end
end

local function delete(job)
    unindex(job)
    unpark_freed()
    local id = job.id
    redis.call('DEL', job_key(id))
    for n = 1, tonumber(job.last_attempt or '0') do redis.call('DEL', att_key(id, n)) end
    redis.call('ZREM', P .. 'all', id)
    redis.call('ZREM', P .. 'ids', id)
    -- its links to the jobs it ran after go with it (a link to it from a job that stays
    -- is kept, shown as deleted); its own list of jobs after it is no longer read
    local parents = P .. 'parents:' .. id
    for _, parent in ipairs(redis.call('SMEMBERS', parents)) do
        redis.call('SREM', P .. 'children:' .. parent, id)
    end
    redis.call('DEL', parents, P .. 'children:' .. id)
end
