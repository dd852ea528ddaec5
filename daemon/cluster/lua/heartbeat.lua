-- A node renews its lease, and does the cluster's housekeeping: the jobs of nodes
-- whose lease ran out run again or fail with `lost`, and finished jobs past their
-- retention go.
-- ARGV: node, lease (ms), 'join', 'renew' or 'leave' (its claims go back at once),
-- Redis's run_id as the node read it,
-- addr, started_at, pools (JSON), then retention: ttl (ms), most jobs, most bytes,
-- then the layout of keys and jobs the node writes, and '1' where it relays every
-- job's lines (it stays in `hear` while it renews).
-- Returns {'layout', the cluster's} when a joining node's layout is not the
-- cluster's, {'dead'} when a renewing node's lease had already run out, else {'ok',
-- the milliseconds until the next scheduled job is due (-1: none), the maps whose
-- follow-up no node has submitted within a lease, which this node now takes on
-- (each {batch, then, results, submitter}), then for each job failed as lost, or
-- cancelled as it waited for one: its id, and its batch's id and counts if it
-- ended it, else ''}.
local node, lease, how, run_id = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local now = now_ms()

-- Nodes of one cluster read each other's jobs: one that would misread them is
-- refused. A cluster from before layouts were marked has jobs and no mark: '1'.
if how == 'join' then
  local layout = redis.call('GET', P .. 'layout') or (redis.call('EXISTS', P .. 'seq') == 1 and '1')
  if layout and layout ~= ARGV[11] then
    return { 'layout', layout }
  end
  redis.call('SET', P .. 'layout', ARGV[11])
end

-- Leases run out only while Redis is there to be renewed with: after a restart
-- (a new run_id) or a gap no node could have left, every lease starts afresh.
local clock = redis.call('HMGET', P .. 'clock', 'last', 'run_id')
if clock[2] ~= run_id or now - tonumber(clock[1] or now) > lease / 2 then
  for _, n in ipairs(redis.call('ZRANGE', P .. 'nodes', 0, -1)) do
    redis.call('ZADD', P .. 'nodes', 'XX', now + lease, n)
  end
end
redis.call('HSET', P .. 'clock', 'last', now, 'run_id', run_id)

if how == 'renew' and not redis.call('ZSCORE', P .. 'nodes', node) then
  return { 'dead' }
end
if how == 'leave' then
  redis.call('ZADD', P .. 'nodes', 0, node)
  redis.call('SREM', P .. 'hear', node)
else
  if ARGV[12] == '1' then
    redis.call('SADD', P .. 'hear', node)
  end
  redis.call('ZADD', P .. 'nodes', now + lease, node)
  redis.call('HSET', P .. 'node:' .. node, 'addr', ARGV[5], 'started_at', ARGV[6], 'pools', ARGV[7],
    'last_seen', now)
end

local out = { 'ok', -1, {} }
local follows = how == 'leave' and {} or redis.call('ZRANGEBYSCORE', P .. 'follows', '-inf', now - lease, 'LIMIT', 0, 10)
for _, batch in ipairs(follows) do
  redis.call('ZADD', P .. 'follows', now, batch)
  local f = redis.call('HMGET', P .. 'follow:' .. batch, 'then', 'results', 'by')
  table.insert(out[3], { batch, f[1], f[2], f[3] or '' })
end
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now, 'LIMIT', 0, 4)) do
  local runs = redis.call('HGETALL', P .. 'run:' .. dead)
  for i = 1, #runs, 2 do
    local id = runs[i]
    local job = P .. 'j:' .. id
    local was = fields_of(job, 'state', 'retries')
    was.node = dead
    local state = was.state
    if state == 'queued' or (state == 'running' and tonumber(was.retries or '0') > 0) then
      -- Claimed and not begun: as it was. Begun: the attempt counts.
      if state == 'running' then
        redis.call('HINCRBY', job, 'retries', -1)
      end
      count(counter(state, was.pool), -1)
      unclaim(was)
      redis.call('HDEL', job, 'token', 'node', 'worker', 'started_at', 'progress')
      enqueue(id, job, was)
    elseif state == 'running' then
      local size = size_of(job)
      redis.call('HSET', job, 'state', 'failed', 'finished_at', now, 'error_code', 'lost',
        'error_message', 'node ' .. dead .. ' stopped renewing its lease', 'size', size)
      local batch = leave(id, job, was, 'failed', size)
      out[#out + 1] = id
      out[#out + 1] = batch or ''
    end
  end
  redis.call('DEL', P .. 'run:' .. dead, P .. 'node:' .. dead)
  redis.call('ZREM', P .. 'nodes', dead)
  redis.call('SREM', P .. 'hear', dead)
end

settle()
counted()
tell_all()
expire(tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]))
out[2] = next_due()
return with_ended_too(out)
