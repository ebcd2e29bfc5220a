-- Keep one list's membership of one enterprise on a Redis Cluster, in the list's own slot.
--
-- apply_record.lua cannot reach the lists there (another slot), so the list keeps its own
-- versioned copy of the enterprise's items on it: the same compare-and-set as the profile's
-- (an item's version must be newer than the one stored), on the same records, so replays
-- and out-of-order delivery end in the same state as the profile's items. The enterprise is
-- on the list while one of its items has a list score, dated by the newest (the single-Redis
-- path in apply_record.lua derives the same from the items hash).
--
-- KEYS: 1 the enterprise's items on this list (hash item id → "<version>|<score>"),
--       2.. the list's sorted sets this enterprise belongs in (all, then region prefixes)
-- ARGV: 1 item id, 2 version, 3 list score ("" = not listed, or not public), 4 uscc
local own, field, version, score, uscc = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stored = redis.call('HGET', own, field)
if stored and version <= string.match(stored, '^[^|]*') then return 0 end
redis.call('HSET', own, field, version .. '|' .. score)
local best = nil
for _, value in ipairs(redis.call('HVALS', own)) do
  local s = tonumber(string.match(value, '|(.*)$'))
  if s and (best == nil or s > best) then best = s end
end
for i = 2, #KEYS do
  if best then
    redis.call('ZADD', KEYS[i], best, uscc)
  else
    redis.call('ZREM', KEYS[i], uscc)
  end
end
return 1
