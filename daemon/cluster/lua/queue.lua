-- Named queues' limits and pauses, and pools' pauses, shared by the nodes
-- (PROTOCOL.md 12). ARGV: what to do, the most named queues the cluster keeps,
-- then:
--   'set', name, max ('': as it is, 'none', or n), rate ('', 'none', or starts and
--          period in ms as 'n/ms'), 'op' or 'config' (the config's limits apply
--          to a queue no op has set): a new rate starts with a full bucket;
--   'pause', name, '1' or '0';
--   'pool', pool, '1' or '0';
--   'list', then names (none: every named queue).
-- What has changed wakes every node. Returns 'too_many' for a queue that would be
-- one too many, else, but for 'pool', for each queue:
-- name, paused, max, rate, per, active (its runs), queued, throttled (1 while its
-- limits hold back jobs it has).
local how, most = ARGV[1], tonumber(ARGV[2])

local function info(named)
  local key = P .. 'named:' .. named
  local q = redis.call('HMGET', key, 'paused', 'max', 'rate', 'per', 'active', 'tokens', 'refilled')
  local queued = 0
  for _, queue in ipairs(redis.call('SMEMBERS', key .. ':queues')) do
    queued = queued + redis.call('ZCARD', lane(queue, named))
  end
  local active, max, rate = tonumber(q[5] or '0'), tonumber(q[2]), tonumber(q[3])
  local held = max and active >= max
  if rate and not held then
    local tokens = tonumber(q[6] or q[3]) + (now_ms() - tonumber(q[7] or '0')) * rate / tonumber(q[4])
    held = tokens < 1
  end
  return { named, q[1] or '0', q[2] or '', q[3] or '', q[4] or '', active, queued,
    (queued > 0 and held) and 1 or 0 }
end

if how == 'list' then
  local out = {}
  for _, named in ipairs(names_from(3, 'named')) do
    out[#out + 1] = info(named)
  end
  return out
end

if how == 'pool' then
  redis.call(ARGV[4] == '1' and 'SADD' or 'SREM', P .. 'paused', ARGV[3])
  tell('* W *\n')
  tell_all()
  return {}
end
local named = ARGV[3]
if redis.call('SISMEMBER', P .. 'named', named) == 0 and redis.call('SCARD', P .. 'named') >= most then
  return 'too_many'
end
local key = P .. 'named:' .. named
redis.call('SADD', P .. 'named', named)
tell('* W *\n')
if how == 'pause' then
  redis.call('HSET', key, 'paused', ARGV[4])
elseif ARGV[6] == 'op' or redis.call('HGET', key, 'by_op') ~= '1' then
  if ARGV[6] == 'op' then
    redis.call('HSET', key, 'by_op', '1')
  end
  if ARGV[4] == 'none' then
    redis.call('HDEL', key, 'max')
  elseif ARGV[4] ~= '' then
    redis.call('HSET', key, 'max', ARGV[4])
  end
  if ARGV[5] == 'none' then
    redis.call('HDEL', key, 'rate', 'per', 'tokens', 'refilled')
  elseif ARGV[5] ~= '' then
    local rate, per = string.match(ARGV[5], '(%d+)/(%d+)')
    redis.call('HSET', key, 'rate', rate, 'per', per, 'tokens', rate, 'refilled', now_ms())
  end
end
tell_all()
return { info(named) }
