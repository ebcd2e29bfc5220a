-- Members common to every set in KEYS (smallest first), at most ARGV[1] of them, with
-- bounded work, so a query made only of very common bigrams (有限, 公司) cannot stall the
-- server (it serves nothing else while a script runs).
--   * Two sets or more, the smallest of at most ARGV[3] members: one native SINTER, whose
--     work is at most that many members times #KEYS look-ups (the caller passes the rarest
--     few bigrams).
--   * Otherwise (one set: its first members are the answer): scan the smallest set in
--     chunks, stopping after ARGV[2] members examined, and keep each chunk's members that
--     every other set holds, one SMISMEMBER per set and chunk on the survivors of the
--     previous set.
-- Both are many times faster than a SISMEMBER call per member and set (12 ms a query at
-- 5,000,000 enterprises: a redis.call from Lua costs about a microsecond here).
local want, budget, exact_max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if #KEYS > 1 and redis.call('SCARD', KEYS[1]) <= exact_max then
  local all = redis.call('SINTER', unpack(KEYS))
  if #all <= want then return all end
  local first = {}  -- a sample, as the scan below gives: the ranker orders what it keeps
  for i = 1, want do first[i] = all[i] end
  return first
end
local found, cursor = {}, '0'
repeat
  local res = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', 500)
  cursor = res[1]
  local survivors = res[2]
  budget = budget - #survivors  -- SSCAN may return a little more than COUNT
  for i = 2, #KEYS do
    if #survivors == 0 then break end
    local present = redis.call('SMISMEMBER', KEYS[i], unpack(survivors))
    local kept = {}
    for j = 1, #survivors do
      if present[j] == 1 then kept[#kept + 1] = survivors[j] end
    end
    survivors = kept
  end
  for _, member in ipairs(survivors) do
    found[#found + 1] = member
    if #found >= want then return found end
  end
until cursor == '0' or budget <= 0
return found
