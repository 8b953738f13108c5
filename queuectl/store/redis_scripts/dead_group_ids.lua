-- dead_group_ids: ARGV = prefix, error ("" with ARGV[3] "0" = None), has error,
-- exit code ("" = None). The dead jobs with exactly these, oldest first.
local out = {}
local err = ARGV[3] == '1' and ARGV[2] or false
local code = ARGV[4] ~= '' and ARGV[4] or false
for _, id in ipairs(redis.call('ZRANGE', P .. 'state:dead', 0, -1)) do
    local f = redis.call('HMGET', job_key(id), 'last_error', 'exit_code')
    if (f[1] or false) == err and (f[2] or false) == code then out[#out + 1] = id end
end
return out
