-- Members common to every set in KEYS, scanning the first (the smallest) and checking the
-- others, stopping after ARGV[1] found or ARGV[2] members examined: a SINTER with bounded
-- work, so a query made only of very common bigrams (有限, 公司) cannot stall the server.
local want, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local found, cursor = {}, '0'
repeat
  local res = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', 500)
  cursor = res[1]
  for _, member in ipairs(res[2]) do
    budget = budget - 1
    local all = true
    for i = 2, #KEYS do
      if redis.call('SISMEMBER', KEYS[i], member) == 0 then
        all = false
        break
      end
    end
    if all then
      found[#found + 1] = member
      if #found >= want then return found end
    end
  end
until cursor == '0' or budget <= 0
return found
