-- After a batch of apply_record.lua calls: advance the index's newest applied version.
--
-- Once per batch instead of in every record's script. ARGV[1] is the newest version among
-- the batch's records, ARGV[2] its processed_at. It was applied if it is newer than the
-- stored mark: the mark is never below any version stored for an item (every stored
-- version was applied, and applying one advances the mark), so a record newer than the
-- mark is newer than its item's version too.
--
-- KEYS: 1 meta hash. ARGV: 1 version, 2 processed_at (ISO).
local last = redis.call('HGET', KEYS[1], 'last_applied_version')
if (not last) or ARGV[1] > last then
  redis.call('HSET', KEYS[1], 'last_applied_version', ARGV[1], 'last_applied_at', ARGV[2])
  return 1
end
return 0
