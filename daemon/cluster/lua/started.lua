-- Workers began runs that this node claimed, and their job.started events go out
-- where anyone_hears().
-- ARGV: node, then for each run: id, token, its job.started message, field count,
-- fields and values (attempts, worker, started_at). A run whose claim is no longer
-- the node's (it was cancelled, or its lease lapsed) is left alone.
local a = 2
while a <= #ARGV do
  local id, token, message, fields = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local job = P .. 'j:' .. id
  local now = redis.call('HMGET', job, 'token', 'state', 'pool')
  if now[1] == token and now[2] == 'queued' then
    count('queued:' .. now[3], -1)
    count('running', 1)
    redis.call('HSET', job, 'state', 'running', unpack(ARGV, a + 4, a + 3 + 2 * fields))
    if anyone_hears() then
      tell(message)
    end
  end
  a = a + 4 + 2 * fields
end
counted()
tell_all()
return 0
