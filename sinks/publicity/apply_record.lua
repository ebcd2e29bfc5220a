-- Apply one record to an enterprise's public profile: a versioned compare-and-set.
--
-- An event whose version is not newer than the stored version of its item (or of the
-- identity, for registrations) changes nothing but the set of names seen, and returns 0;
-- so replays and out-of-order delivery never regress a profile. Versions are compared as
-- strings: streams/versioning.py makes them fixed-width 0-9a-f and "." so that Lua's
-- locale-aware comparison orders them like the tuple they encode.
--
-- KEYS: 1 identity hash, 2 former-names set, 3 versions hash, 4 category items hash,
--       5 meta hash, 6.. list sorted sets this enterprise belongs in (list categories only).
--       On a Redis Cluster only 1-4 (one slot, the enterprise's): the count and the lists
--       live on other slots and are written by their own commands (apply_list.lua).
-- ARGV: 1 mode ("item" | "identity"), 2 item id ("@identity" for identity), 3 version,
--       4 item JSON ("" = not public: remove it from the profile),
--       5 the name this record carries ("" if none), 6 uscc,
--       7.. identity field, value pairs (nulls left out; identity mode: authoritative
--       fields; item mode: fill-if-missing)
local ent, former, vers, items, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode, field, version = ARGV[1], ARGV[2], ARGV[3]
local item_json, name, uscc = ARGV[4], ARGV[5], ARGV[6]
local FIRST_PAIR = 7

local stored = redis.call('HGET', vers, field)
local newer = (not stored) or version > stored
local is_new, current_name

if mode == 'identity' then
  -- Every profile has its uscc: without one the enterprise is new.
  local current = redis.call('HMGET', ent, 'uscc', 'name')
  is_new, current_name = not current[1], current[2]
  if newer then
    local flat = {}
    for i = FIRST_PAIR, #ARGV do flat[#flat + 1] = ARGV[i] end
    if #flat > 0 then redis.call('HSET', ent, unpack(flat)) end
    redis.call('HSET', vers, field, version)
    if current_name and name ~= '' and current_name ~= name then
      redis.call('SADD', former, current_name)
    end
    if name ~= '' then redis.call('SREM', former, name) end
  elseif name ~= '' and current_name and current_name ~= name then
    redis.call('SADD', former, name)
  end
else
  -- Identity from any record fills only what no registration has set yet: one HMGET (which
  -- also gives the current name and whether the enterprise exists: every profile has its
  -- uscc) and at most one HSET.
  local fields, values = {}, {}
  for i = FIRST_PAIR, #ARGV, 2 do
    fields[#fields + 1] = ARGV[i]
    values[#values + 1] = ARGV[i + 1]
  end
  fields[#fields + 1] = 'uscc'
  fields[#fields + 1] = 'name'
  local current = redis.call('HMGET', ent, unpack(fields))
  is_new = not current[#fields - 1]
  current_name = current[#fields]
  local missing = {}
  for i = 1, #values do
    if not current[i] then
      missing[#missing + 1] = fields[i]
      missing[#missing + 1] = values[i]
      if fields[i] == 'name' then current_name = values[i] end
    end
  end
  if #missing > 0 then redis.call('HSET', ent, unpack(missing)) end
  -- Names: the newest registration's name is current; every other name seen is former.
  if name ~= '' and current_name and current_name ~= name then
    redis.call('SADD', former, name)
  end
  if newer then
    redis.call('HSET', vers, field, version)
    if item_json ~= '' then
      redis.call('HSET', items, field, item_json)
    else
      redis.call('HDEL', items, field)
    end
    if #KEYS > 5 then
      -- On the list while at least one public item lists it; dated by the newest listing.
      local best = nil
      for _, value in ipairs(redis.call('HVALS', items)) do
        local score = cjson.decode(value)['list_score']
        if score and score ~= cjson.null and (best == nil or score > best) then
          best = score
        end
      end
      for i = 6, #KEYS do
        if best then
          redis.call('ZADD', KEYS[i], best, uscc)
        else
          redis.call('ZREM', KEYS[i], uscc)
        end
      end
    end
  end
end

if is_new and meta then redis.call('HINCRBY', meta, 'enterprises', 1) end
-- The index's last applied version is advanced once per batch (advance_marks.lua).
if newer then return 1 end
return 0
