-- has_unfinished_jobs: ARGV = prefix, then the queues (none = all). 1 when a job of
-- those queues is processing, failed (awaiting its retry) or pending and due.
local now = clock()
local wanted = nil
if #ARGV > 1 then
    wanted = {}
    for i = 2, #ARGV do wanted[ARGV[i]] = true end
end
local flat = redis.call('HGETALL', P .. 'counts')
for i = 1, #flat, 2 do
    local s, q = string.match(flat[i], '^([^|]+)|(.*)$')
    if (wanted == nil or wanted[q]) and tonumber(flat[i + 1]) > 0 then
        if s == 'processing' or s == 'failed' then return 1 end
        if s == 'pending'
           and redis.call('ZCOUNT', P .. 'pending_at:' .. q, '-inf', num(now)) > 0 then
            return 1
        end
    end
end
return 0
