-- Accepts the submits and maps of one round trip, each whole or not at all.
-- ARGV: the most jobs a pool may have queued, the number of requests, then for
-- each: its job count, pool, queue, idempotency key or '', batch or '', then for
-- each job: id, priority, field count, then fields and values.
-- Returns for each request 'ok', 'full', or the id of the job that holds its key.
local max = tonumber(ARGV[1])
local out = {}
local queued = {}
local a = 3
for r = 1, tonumber(ARGV[2]) do
  local n, pool, queue, key, batch = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  a = a + 5
  local holder = key ~= '' and redis.call('GET', P .. 'key:' .. key)
  if not queued[pool] then
    queued[pool] = tonumber(redis.call('HGET', P .. 'stats', 'queued:' .. pool) or '0')
  end
  local accept = not holder and queued[pool] + n <= max
  out[r] = holder or (accept and 'ok' or 'full')
  local seq = accept and redis.call('INCRBY', P .. 'seq', n) - n
  for _ = 1, n do
    local id, priority, fields = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    if accept then
      seq = seq + 1
      -- Priorities are -100 to 100: 201 bands of 2^44 arrivals, exact in a double.
      local score = (100 - priority) * 17592186044416 + seq
      local job = P .. 'j:' .. id
      redis.call('HSET', job, 'state', 'queued', 'attempts', 0, 'score', score, 'seq', seq,
        unpack(ARGV, a + 3, a + 2 + 2 * fields))
      redis.call('ZADD', P .. 'q:' .. queue, score, id)
      redis.call('ZADD', P .. 'all', seq, id)
      if key ~= '' then
        redis.call('SET', P .. 'key:' .. key, id)
      end
    end
    a = a + 3 + 2 * fields
  end
  if accept then
    queued[pool] = queued[pool] + n
    count('queued:' .. pool, n)
    count('submitted', n)
    if batch ~= '' then
      redis.call('HSET', P .. 'batch:' .. batch, 'pending', n)
    end
    wake(queue)
  end
end
counted()
tell_all()
return out
