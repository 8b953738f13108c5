-- put_record: ARGV = prefix, kind, name, value, expected version ("" = must be absent).
-- P.."records:"..kind is a hash name -> "version value". Returns the new version, or
-- false when another write came first (nothing changed).
local key, name, value, expected = P .. 'records:' .. ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local kept = redis.call('HGET', key, name)
local version = 0
if kept then version = tonumber(string.match(kept, '^(%d+) ')) end
if (expected == '' and kept) or (expected ~= '' and tonumber(expected) ~= version) then
    return false
end
redis.call('HSET', key, name, num(version + 1) .. ' ' .. value)
return version + 1
