-- dead_groups: ARGV = prefix. Dead jobs by (last_error, exit_code): one array per group,
-- {has error, error, has exit code, exit code, count, newest id}, largest group first.
local groups, order = {}, {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'state:dead', 0, -1)) do
    local f = redis.call('HMGET', job_key(id), 'last_error', 'exit_code', 'seq')
    local key = (f[1] and ('e' .. f[1]) or 'n') .. '\0' .. (f[2] or '')
    local g = groups[key]
    if not g then
        g = {f[1] and 1 or 0, f[1] or '', f[2] and 1 or 0, f[2] or '', 0, id, 0}
        groups[key] = g
        order[#order + 1] = g
    end
    g[5] = g[5] + 1
    if tonumber(f[3]) > g[7] then g[6], g[7] = id, tonumber(f[3]) end
end
table.sort(order, function(a, b)
    if a[5] ~= b[5] then return a[5] > b[5] end
    return a[7] > b[7]
end)
for _, g in ipairs(order) do g[7] = nil end
return order
