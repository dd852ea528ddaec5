-- A node claims up to `max` runnable jobs of some queues, best first (priority,
-- then arrival) among the lanes that may start one now: a named queue's lane
-- only while it is not paused, is below its max_concurrency and has a token of
-- its rate. A paused pool starts nothing. A node with room left is marked idle on
-- those queues in the same step, so that no submit, end or resume in between
-- goes unnoticed.
-- ARGV: node, token prefix, max, pool, queues. Returns 'dead' for a node without
-- a lease, else {each claimed job's id and attempts, and when a lane held back by
-- its rate gets a token (ms from now; -1: none is)}. A claim's token is the prefix
-- and the id. The node reads the jobs it has no copy of with HGETALL: most it
-- has, as their submits were its own, and a script's HGETALL costs Redis what
-- its other work on the job does.
local node, prefix, max, pool = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if not redis.call('ZSCORE', P .. 'nodes', node) then
  return 'dead'
end
local jobs = {}
local runs = {}
local taken = 0
local function claim(id)
  local job = P .. 'j:' .. id
  local token = prefix .. id
  taken = taken + 1
  local f = redis.call('HMGET', job, 'attempts', 'held')
  if f[2] == node or f[2] == '*' then
    redis.call('HSET', job, 'node', node, 'token', token)
  else
    redis.call('HSET', job, 'node', node, 'token', token, 'held', '*')  -- two hold it now
  end
  runs[#runs + 1] = id
  runs[#runs + 1] = token
  jobs[#jobs + 1] = id
  jobs[#jobs + 1] = f[1] or '0'
end

-- The named queues' limits, read once and written back once.
local now = now_ms()
local gates = {}
local function gate(named)
  local g = gates[named]
  if not g then
    local q = redis.call('HMGET', P .. 'named:' .. named, 'paused', 'max', 'rate', 'per', 'active',
      'tokens', 'refilled')
    g = { paused = q[1] == '1', max = tonumber(q[2]), rate = tonumber(q[3]), per = tonumber(q[4]),
      active = tonumber(q[5] or '0') }
    if g.rate then
      local tokens, refilled = tonumber(q[6] or q[3]), tonumber(q[7] or now)
      g.tokens = math.min(g.rate, tokens + (now - refilled) * g.rate / g.per)
    end
    gates[named] = g
  end
  return g
end
local token_in = -1
local function open(l)
  if not l.named then
    return true
  end
  local g = gate(l.named)
  if g.paused or (g.max and g.active >= g.max) then
    return false
  end
  if g.rate and g.tokens < 1 then
    if redis.call('ZCARD', l.key) > 0 then
      local wait = math.ceil((1 - g.tokens) * g.per / g.rate)
      token_in = token_in < 0 and wait or math.min(token_in, wait)
    end
    return false
  end
  return true
end

local lanes = {}
for i = 5, #ARGV do
  lanes[#lanes + 1] = { key = lane(ARGV[i]) }
  for _, named in ipairs(redis.call('SMEMBERS', P .. 'lanes:' .. ARGV[i])) do
    lanes[#lanes + 1] = { key = lane(ARGV[i], named), named = named }
  end
end
if redis.call('SISMEMBER', P .. 'paused', pool) == 1 then
  lanes = {}
elseif #lanes == 1 then
  -- A queue of no named queues: its best jobs at once.
  local best = redis.call('ZRANGE', lanes[1].key, 0, max - 1, 'REV')
  if #best > 0 then
    redis.call('ZREMRANGEBYRANK', lanes[1].key, -#best, -1)
  end
  for _, id in ipairs(best) do
    claim(id)
  end
  lanes = {}
end
while taken < max do
  local best, best_lane, best_score
  for _, l in ipairs(lanes) do
    if open(l) then
      local head = redis.call('ZRANGE', l.key, 0, 0, 'REV', 'WITHSCORES')
      if head[1] and (not best or tonumber(head[2]) > best_score) then
        best, best_lane, best_score = head[1], l, tonumber(head[2])
      end
    end
  end
  if not best then
    break
  end
  redis.call('ZREM', best_lane.key, best)
  claim(best)
  if best_lane.named then
    local g = gates[best_lane.named]
    g.active = g.active + 1
    g.tokens = g.tokens and g.tokens - 1
    g.took = true
  end
end
for named, g in pairs(gates) do
  if g.took then
    redis.call('HSET', P .. 'named:' .. named, 'active', g.active)
    if g.rate then
      redis.call('HSET', P .. 'named:' .. named, 'tokens', g.tokens, 'refilled', now)
    end
  end
end
if #runs > 0 then
  redis.call('HSET', P .. 'run:' .. node, unpack(runs))
end
if taken < max then
  for i = 5, #ARGV do
    redis.call('SADD', P .. 'idle:' .. ARGV[i], node)
  end
end
return { jobs, token_in }
