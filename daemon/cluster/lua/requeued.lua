-- Runs of this node's claims go back to their queues, in their place by
-- priority and arrival: after a failed attempt with a retry left (`retry`), or
-- without counting the attempt (`return`: a stop, a worker that never took it).
-- ARGV: node, then for each: id, token, `retry` or `return`, attempts ('': as
-- they are, for a claim whose reply the node never got), and when its back-off
-- ends (ms) or '' for at once.
local a = 2
while a <= #ARGV do
  local id, token, why, attempts, due = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local job = P .. 'j:' .. id
  local was = fields_of(job, 'token', 'state')
  if was.token == token then
    count(counter(was.state, was.pool), -1)
    if why == 'retry' then
      redis.call('HINCRBY', job, 'retries', -1)
    end
    if attempts ~= '' then
      redis.call('HSET', job, 'attempts', attempts)
    end
    redis.call('HDEL', job, 'token', 'node', 'worker', 'started_at', 'progress')
    redis.call('HDEL', P .. 'run:' .. ARGV[1], id)
    unclaim(was)
    if due then
      schedule(id, job, due)
    else
      enqueue(id, job, was)
    end
  end
  a = a + 5
end
counted()
tell_all()
return 0
