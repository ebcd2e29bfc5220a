-- Apply one record to an enterprise's public profile: a versioned compare-and-set.
--
-- An event whose version is not newer than the stored version of its item (or of the
-- identity, for registrations) changes nothing but the set of names seen, and returns 0;
-- so replays and out-of-order delivery never regress a profile. Versions are compared as
-- strings: streams/versioning.py makes them fixed-width 0-9a-f and "." so that Lua's
-- locale-aware comparison orders them like the tuple they encode.
--
-- KEYS: 1 identity hash, 2 former-names set, 3 versions hash, 4 category items hash,
--       5 meta hash, 6.. list sorted sets this enterprise belongs in (list categories only)
-- ARGV: 1 mode ("item" | "identity"), 2 item id ("@identity" for identity), 3 version,
--       4 item JSON ("" = not public: remove it from the profile),
--       5 identity JSON (identity mode: authoritative fields; item mode: fill-if-missing),
--       6 the name this record carries ("" if none), 7 uscc
local ent, former, vers, items, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode, field, version = ARGV[1], ARGV[2], ARGV[3]
local item_json, identity_json, name, uscc = ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local is_new = redis.call('EXISTS', ent) == 0
local stored = redis.call('HGET', vers, field)
local newer = (not stored) or version > stored

-- Names: the newest registration's name is current; every other name seen is former.
local function remember_name(candidate)
  if candidate == '' then return end
  local current = redis.call('HGET', ent, 'name')
  if current and current ~= candidate then
    redis.call('SADD', former, candidate)
  end
end

if mode == 'identity' then
  if newer then
    local previous = redis.call('HGET', ent, 'name')
    local fields = cjson.decode(identity_json)
    local flat = {}
    for k, v in pairs(fields) do
      if v ~= cjson.null then
        flat[#flat + 1] = k
        flat[#flat + 1] = tostring(v)
      end
    end
    if #flat > 0 then redis.call('HSET', ent, unpack(flat)) end
    redis.call('HSET', vers, field, version)
    if previous and name ~= '' and previous ~= name then
      redis.call('SADD', former, previous)
    end
    if name ~= '' then redis.call('SREM', former, name) end
  else
    remember_name(name)
  end
else
  -- Identity from any record fills only what no registration has set yet: one HMGET and
  -- at most one HSET (a HSETNX per field was most of this script's calls).
  local fields = cjson.decode(identity_json)
  local names, values = {}, {}
  for k, v in pairs(fields) do
    if v ~= cjson.null then
      names[#names + 1] = k
      values[#values + 1] = tostring(v)
    end
  end
  if #names > 0 then
    local missing = {}
    local current = is_new and {} or redis.call('HMGET', ent, unpack(names))
    for i = 1, #names do
      if not current[i] then
        missing[#missing + 1] = names[i]
        missing[#missing + 1] = values[i]
      end
    end
    if #missing > 0 then redis.call('HSET', ent, unpack(missing)) end
  end
  remember_name(name)
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

if is_new then redis.call('HINCRBY', meta, 'enterprises', 1) end
-- The index's last applied version is advanced once per batch (advance_marks.lua).
if newer then return 1 end
return 0
