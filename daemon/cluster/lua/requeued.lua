-- Runs of this node's claims go back to their queues, in their place by
-- priority and arrival: after a failed attempt with a retry left (`retry`), or
-- without counting the attempt (`return`: a stop, a worker that never took it).
-- ARGV: node, then for each: id, token, `retry` or `return`, attempts ('': as
-- they are, for a claim whose reply the node never got).
local a = 2
while a <= #ARGV do
  local id, token, why, attempts = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local job = P .. 'j:' .. id
  local was = redis.call('HMGET', job, 'token', 'state', 'pool', 'task', 'score')
  if was[1] == token then
    local pool = was[3]
    local queue = pool == 'remote' and 'remote:' .. was[4] or pool
    if was[2] == 'running' then
      count('running', -1)
      count('queued:' .. pool, 1)
    end
    if why == 'retry' then
      redis.call('HINCRBY', job, 'retries', -1)
    end
    if attempts == '' then
      redis.call('HSET', job, 'state', 'queued')
    else
      redis.call('HSET', job, 'state', 'queued', 'attempts', attempts)
    end
    redis.call('HDEL', job, 'token', 'node', 'worker_pid', 'worker_thread', 'worker_id', 'worker_name',
      'started_at', 'progress')
    redis.call('HDEL', P .. 'run:' .. ARGV[1], id)
    redis.call('ZADD', P .. 'q:' .. queue, was[5], id)
    wake(queue)
  end
  a = a + 4
end
counted()
tell_all()
return 0
