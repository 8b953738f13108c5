-- list_workers: ARGV = prefix, alive within seconds ("" = all). Oldest first; each is
-- {HGETALL array, {running job ids in seq order}}.
local now = clock()
local within = tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'workers', 0, -1)) do
    local flat = redis.call('HGETALL', P .. 'worker:' .. id)
    local worker = {}
    for i = 1, #flat, 2 do worker[flat[i]] = flat[i + 1] end
    if #flat > 0 and (within == nil or tonumber(worker.heartbeat_at) >= now - within) then
        out[#out + 1] = {flat, redis.call('ZRANGE', P .. 'running:' .. id, 0, -1)}
    end
end
return out
