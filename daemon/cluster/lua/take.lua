-- A node claims up to `max` runnable jobs of some queues, best first. A node with
-- room left is marked idle on those queues in the same step, so that no submit
-- in between goes unnoticed.
-- ARGV: node, token prefix, max, queues. Returns 'dead' for a node without a
-- lease, else each claimed job's fields (HGETALL).
local node, prefix, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not redis.call('ZSCORE', P .. 'nodes', node) then
  return 'dead'
end
local out = {}
local runs = {}
local function claim(id)
  local job = P .. 'j:' .. id
  local token = prefix .. (#out + 1)
  redis.call('HSET', job, 'node', node, 'token', token)
  runs[#runs + 1] = id
  runs[#runs + 1] = token
  out[#out + 1] = redis.call('HGETALL', job)
end
if #ARGV == 4 then
  local popped = redis.call('ZPOPMIN', P .. 'q:' .. ARGV[4], max)
  for i = 1, #popped, 2 do
    claim(popped[i])
  end
else
  -- The remote pool: the best head among its tasks' queues, one at a time.
  while #out < max do
    local best, best_queue, best_score
    for i = 4, #ARGV do
      local head = redis.call('ZRANGE', P .. 'q:' .. ARGV[i], 0, 0, 'WITHSCORES')
      if head[1] and (not best or tonumber(head[2]) < best_score) then
        best, best_queue, best_score = head[1], ARGV[i], tonumber(head[2])
      end
    end
    if not best then
      break
    end
    redis.call('ZREM', P .. 'q:' .. best_queue, best)
    claim(best)
  end
end
if #runs > 0 then
  redis.call('HSET', P .. 'run:' .. node, unpack(runs))
end
if #out < max then
  for i = 4, #ARGV do
    redis.call('SADD', P .. 'idle:' .. ARGV[i], node)
  end
end
return out
