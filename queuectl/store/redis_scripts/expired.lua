-- expired_jobs: ARGV = prefix, limit. Processing jobs whose lease ended, oldest lease first.
local now = clock()
local out = {}
local found = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. num(now),
                         'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(found) do out[#out + 1] = flatten(load(id)) end
return out
