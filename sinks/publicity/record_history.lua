-- Keep an item that left the public view in its enterprise's history (issue #17): only if
-- the record is the item's stored version, i.e. apply_record.lua just applied it (it runs
-- first in the same pipeline), so replays and late arrivals never write a stale entry.
--
-- KEYS: 1 versions hash, 2 history hash
-- ARGV: 1 item id, 2 version, 3 history entry JSON
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  return 1
end
return 0
