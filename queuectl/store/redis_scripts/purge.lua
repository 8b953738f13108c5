-- purge_jobs: ARGV = prefix, older than seconds ("" = any age), batch size, then the
-- states. Deletes up to a batch of matching jobs and returns how many. With an age, the
-- oldest first, read from P.."ended:"..state by updated_at: the work is the batch, never
-- the finished jobs that stay. Without one, in seq order.
local now = clock()
local older = tonumber(ARGV[2])
local batch = tonumber(ARGV[3])
local gone = 0
for i = 4, #ARGV do
    if gone >= batch then break end
    if older ~= nil then
        local key = P .. 'ended:' .. ARGV[i]
        local found = redis.call('ZRANGEBYSCORE', key, '-inf', num(now - older),
                                 'LIMIT', 0, batch - gone)
        for _, id in ipairs(found) do
            local job = load(id)
            if job then delete(job) else redis.call('ZREM', key, id) end
            gone = gone + 1
        end
    else
        local found = redis.call('ZRANGE', P .. 'state:' .. ARGV[i], 0, batch - gone - 1)
        for _, id in ipairs(found) do
            delete(load(id))
            gone = gone + 1
        end
    end
end
flush_counts()
if UNPARKED then redis.call('PUBLISH', WAKE, 'purge') end  -- a key's slot freed
return gone
