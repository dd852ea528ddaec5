-- Workers began runs that this node claimed.
-- ARGV: node, then for each run: id, token, field count, fields and values
-- (attempts, worker, started_at). A run whose claim is no longer the node's (it
-- was cancelled, or its lease lapsed) is left alone.
local a = 2
while a <= #ARGV do
  local id, token, fields = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local job = P .. 'j:' .. id
  if redis.call('HGET', job, 'token') == token and redis.call('HGET', job, 'state') == 'queued' then
    local pool = redis.call('HGET', job, 'pool')
    redis.call('HINCRBY', P .. 'stats', 'queued:' .. pool, -1)
    redis.call('HINCRBY', P .. 'stats', 'running', 1)
    redis.call('HSET', job, 'state', 'running', unpack(ARGV, a + 3, a + 2 + 2 * fields))
  end
  a = a + 3 + 2 * fields
end
return 0
