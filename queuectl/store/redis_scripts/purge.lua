-- purge_jobs: ARGV = prefix, older than seconds ("" = any age), batch size, then the
-- states. Deletes up to a batch of matching jobs (oldest seq first); returns how many.
local now = clock()
local older = tonumber(ARGV[2])
local batch = tonumber(ARGV[3])
local gone = 0
for i = 4, #ARGV do
    local key = P .. 'state:' .. ARGV[i]
    local bound = '-inf'
    while gone < batch do
        local found = redis.call('ZRANGEBYSCORE', key, bound, '+inf', 'LIMIT', 0, 256)
        for _, id in ipairs(found) do
            local job = load(id)
            bound = '(' .. job.seq
            if older == nil or tonumber(job.updated_at) <= now - older then
                delete(job)
                gone = gone + 1
                if gone >= batch then break end
            end
        end
        if #found < 256 then break end
    end
end
return gone
