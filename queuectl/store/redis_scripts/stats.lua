-- queue_stats: ARGV = prefix. Returns one array per queue holding jobs:
-- {queue, oldest due pending run_at ("" = none), state, n, state, n, ...}.
local now = clock()
local per_queue, names = {}, {}
local flat = redis.call('HGETALL', P .. 'counts')
for i = 1, #flat, 2 do
    local s, q = string.match(flat[i], '^([^|]+)|(.*)$')
    local n = tonumber(flat[i + 1])
    if n > 0 then
        if not per_queue[q] then
            per_queue[q] = {q, ''}
            names[#names + 1] = q
        end
        local row = per_queue[q]
        row[#row + 1] = s
        row[#row + 1] = n
        if s == 'pending' then
            local first = redis.call('ZRANGEBYSCORE', P .. 'pending_at:' .. q, '-inf',
                                     num(now), 'WITHSCORES', 'LIMIT', 0, 1)
            if #first > 0 then row[2] = first[2] end
        end
    end
end
table.sort(names)
local out = {}
for _, q in ipairs(names) do out[#out + 1] = per_queue[q] end
return out
