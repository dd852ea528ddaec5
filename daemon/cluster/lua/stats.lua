-- The cluster's counts and its live nodes. Returns {the stats hash (HGETALL), kv
-- keys, kv bytes, the paused pools, then for each node whose lease runs: id, addr,
-- started_at, last_seen, pools}.
local out = { redis.call('HGETALL', P .. 'stats'), redis.call('HLEN', P .. 'kv'),
  redis.call('GET', P .. 'kvbytes') or '0', redis.call('SMEMBERS', P .. 'paused') }
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', now_ms(), '+inf')) do
  local info = redis.call('HMGET', P .. 'node:' .. node, 'addr', 'started_at', 'last_seen', 'pools')
  out[#out + 1] = node
  out[#out + 1] = info[1] or ''
  out[#out + 1] = info[2] or '0'
  out[#out + 1] = info[3] or '0'
  out[#out + 1] = info[4] or '{}'
end
return out
