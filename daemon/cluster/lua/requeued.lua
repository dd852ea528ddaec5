-- Runs of this node's claims go back to their queues, in their place by
-- priority and arrival: after a failed attempt with a retry left (`retry`), or
-- without counting the attempt (`return`: a stop, a worker that never took it).
-- ARGV: node, then for each: id, token, `retry` or `return`, attempts.
local a = 2
while a <= #ARGV do
  local id, token, why, attempts = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local job = P .. 'j:' .. id
  if redis.call('HGET', job, 'token') == token then
    local queue, pool = queue_of(job)
    if redis.call('HGET', job, 'state') == 'running' then
      redis.call('HINCRBY', P .. 'stats', 'running', -1)
      redis.call('HINCRBY', P .. 'stats', 'queued:' .. pool, 1)
    end
    if why == 'retry' then
      redis.call('HINCRBY', job, 'retries', -1)
    end
    redis.call('HSET', job, 'state', 'queued', 'attempts', attempts)
    redis.call('HDEL', job, 'token', 'node', 'worker_pid', 'worker_thread', 'worker_id', 'worker_name',
      'started_at', 'progress')
    redis.call('HDEL', P .. 'run:' .. ARGV[1], id)
    redis.call('ZADD', P .. 'q:' .. queue, redis.call('HGET', job, 'score'), id)
    wake(queue)
  end
  a = a + 4
end
return 0
