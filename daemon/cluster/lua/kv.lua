-- The shared key-value store (kv.*), in the hash `kv`; `kvbytes` counts what its
-- keys and values hold, for kv.max_bytes. Values are JSON text as nodes write it.
-- ARGV: op, key, then:
--   set  value max_bytes       -> {'ok'} or {'full', bytes after}
--   del                        -> {'ok', the value it had or false}
--   incr by max_bytes          -> {'ok', value}, {'not_integer', value},
--                                 {'overflow', value} or {'full', bytes after}
--   swap expected value max_bytes: set only if the key holds `expected` (text;
--                                 '' for none) -> {'ok'}, {'changed'} or {'full', ...}
--   swap_del expected          -> the same, removing the key
--   list prefix after limit    -> {'ok', more (0 or 1), key, value, key, value...}: the
--                                 keys with that prefix after `after`, in byte order
local op, key = ARGV[1], ARGV[2]
local kv, bytes = P .. 'kv', P .. 'kvbytes'
local old = redis.call('HGET', kv, key)
local held = old and #key + #old or 0

local function room(value, max)
  local after = tonumber(redis.call('GET', bytes) or '0') - held + #key + #value
  if after > tonumber(max) and after > tonumber(redis.call('GET', bytes) or '0') then
    return after
  end
  return nil
end

local function put(value)
  redis.call('HSET', kv, key, value)
  redis.call('INCRBY', bytes, #key + #value - held)
end

if op == 'set' or op == 'swap' then
  local value, max = ARGV[op == 'set' and 3 or 4], ARGV[op == 'set' and 4 or 5]
  if op == 'swap' and (old or '') ~= ARGV[3] then
    return { 'changed' }
  end
  local after = room(value, max)
  if after then
    return { 'full', after }
  end
  put(value)
  return { 'ok' }
elseif op == 'swap_del' then
  if (old or '') ~= ARGV[3] then
    return { 'changed' }
  end
  if old then
    redis.call('HDEL', kv, key)
    redis.call('INCRBY', bytes, -held)
  end
  return { 'ok' }
elseif op == 'del' then
  if old then
    redis.call('HDEL', kv, key)
    redis.call('INCRBY', bytes, -held)
  end
  return { 'ok', old }
elseif op == 'incr' then
  local current = old or '0'
  -- An integer as JSON writes it, of 64 bits; anything else is not one.
  if not string.match(current, '^%-?%d+$') then
    return { 'not_integer', current }
  end
  local ok, err = pcall(redis.call, 'HINCRBY', kv, key, ARGV[3])
  if not ok then  -- nothing written
    return { string.find(tostring(err.err or err), 'overflow') and 'overflow' or 'not_integer',
      current }
  end
  local value = redis.call('HGET', kv, key)  -- as text: a Lua number holds 53 bits
  local after = room(value, ARGV[4])
  if after then
    if old then redis.call('HSET', kv, key, old) else redis.call('HDEL', kv, key) end
    return { 'full', after }
  end
  redis.call('INCRBY', bytes, #key + #value - held)
  return { 'ok', value }
elseif op == 'list' then
  local prefix, after, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
  local keys = {}
  for _, k in ipairs(redis.call('HKEYS', kv)) do
    if string.sub(k, 1, #prefix) == prefix and k > after then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  local out = { 'ok', #keys > limit and 1 or 0 }
  for i = 1, math.min(limit, #keys) do
    out[#out + 1] = keys[i]
    out[#out + 1] = redis.call('HGET', kv, keys[i])
  end
  return out
end
return redis.error_reply('unknown kv op ' .. op)
