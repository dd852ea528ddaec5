-- What every script of the job store shares; it comes first in each of them.
--
-- KEYS[1] is the cluster's prefix, `tp:{<cluster.name>}:`, and every key is under
-- it (the braces keep a service's keys in one Redis Cluster slot):
--   seq             counter: the order of arrival
--   j:<id>          hash: a job (fields in job_fields.cpp)
--   q:<queue>       zset: runnable jobs by score (priority, then arrival); a queue
--                   is a pool's name, or `remote:<task>` on the remote pool
--   idle:<queue>    set: nodes that found the queue empty, to wake
--   all             zset: every job by seq (list)
--   done            zset: finished jobs by the time they finished (retention)
--   run:<node>      hash: job id -> token, the jobs a node has claimed
--   nodes           zset: node -> its lease's end (ms on Redis's clock)
--   node:<node>     hash: what stats shows of a node
--   key:<key>       string: the job that holds an idempotency key
--   batch:<id>      hash: a map's pending and finished counts
--   stats           hash: submitted, succeeded, failed, cancelled, running,
--                   queued:<pool>, retained_bytes (what finished jobs hold)
--   kv              hash: the shared key-value store; kvbytes its size
--   ev              channel: events, `<origin> <kind> <id>\n<line>`
local P = KEYS[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function queue_of(job)
  local pool = redis.call('HGET', job, 'pool')
  if pool == 'remote' then
    return 'remote:' .. redis.call('HGET', job, 'task'), pool
  end
  return pool, pool
end

-- Nodes that found an empty queue are told it has jobs again, once.
local function wake(queue)
  if redis.call('SCARD', P .. 'idle:' .. queue) > 0 then
    redis.call('DEL', P .. 'idle:' .. queue)
    redis.call('PUBLISH', P .. 'ev', '* W ' .. queue .. '\n')
  end
end

-- What a finished job holds, about: its payloads.
local function size_of(job)
  local size = 0
  for _, v in ipairs(redis.call('HMGET', job, 'args', 'result', 'progress', 'error_message')) do
    size = size + (v and #v or 0)
  end
  return size
end

-- A job leaves `state` (queued or running) for the end `final`: counted, kept for
-- retention, and counted in its batch. Returns the batch's counts when it was the
-- batch's last job, else nil.
local function leave(id, job, state, final)
  local pool = redis.call('HGET', job, 'pool')
  redis.call('HINCRBY', P .. 'stats', state == 'running' and 'running' or 'queued:' .. pool, -1)
  redis.call('HINCRBY', P .. 'stats', final, 1)
  redis.call('HINCRBY', P .. 'stats', 'retained_bytes', size_of(job))
  redis.call('ZADD', P .. 'done', now_ms(), id)
  local node = redis.call('HGET', job, 'node')
  if node then
    redis.call('HDEL', P .. 'run:' .. node, id)
  end
  redis.call('HDEL', job, 'token')
  local batch = redis.call('HGET', job, 'batch')
  if not batch then
    return nil
  end
  local b = P .. 'batch:' .. batch
  redis.call('HINCRBY', b, final, 1)
  if redis.call('HINCRBY', b, 'pending', -1) > 0 then
    return nil
  end
  local counts = redis.call('HMGET', b, 'succeeded', 'failed', 'cancelled')
  redis.call('DEL', b)
  return { batch, counts[1] or '0', counts[2] or '0', counts[3] or '0' }
end

-- Finished jobs go once their retention is over (`ttl` ms), and the oldest go
-- while more than `max` are kept or they hold more than `max_bytes`; at most 1,000
-- a call, so that no call holds Redis up for long.
local function expire(ttl, max, max_bytes)
  local function drop(id)
    local job = P .. 'j:' .. id
    local key = redis.call('HGET', job, 'key')
    if key and redis.call('GET', P .. 'key:' .. key) == id then
      redis.call('DEL', P .. 'key:' .. key)
    end
    redis.call('HINCRBY', P .. 'stats', 'retained_bytes', -size_of(job))
    redis.call('DEL', job)
    redis.call('ZREM', P .. 'all', id)
    redis.call('ZREM', P .. 'done', id)
  end
  local budget = 1000
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'done', '-inf', now_ms() - ttl, 'LIMIT', 0, budget)) do
    drop(id)
    budget = budget - 1
  end
  while budget > 0 and (redis.call('ZCARD', P .. 'done') > max or
      tonumber(redis.call('HGET', P .. 'stats', 'retained_bytes') or '0') > max_bytes) do
    local oldest = redis.call('ZRANGE', P .. 'done', 0, 0)[1]
    if not oldest then
      break
    end
    drop(oldest)
    budget = budget - 1
  end
end
