-- Accepts the submits and maps of one round trip, each whole or not at all.
-- ARGV: the most jobs a pool may have queued, the most named queues, the number
-- of requests, then for
-- each: its job count, pool, queue, named queue or '', idempotency key or '',
-- batch or '', the time
-- its jobs are due (ms) or '', the schedule it is a firing of or '' with the time
-- that fired (ms) and the schedule's next or '', then for each job: id, priority,
-- field count, then fields and values. Jobs due later take no room in the queue
-- until then.
-- Returns for each request 'ok', 'full', 'too_many' (its named queue would be one
-- too many), or the id of the job that holds its key.
-- Every node fires a schedule when its time comes; the first moves it on, and a
-- later firing of that time answers as the first did: its job, or 'full'.
local max, most_named = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
local queued = {}
local a = 4
for r = 1, tonumber(ARGV[3]) do
  local n, pool, queue, named, key = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local batch, due = ARGV[a + 5], tonumber(ARGV[a + 6])
  local firing, fired_at, next_at = ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  a = a + 10
  named = named ~= '' and named or nil
  local holder = key ~= '' and redis.call('GET', P .. 'key:' .. key)
  local fires = firing ~= ''
  if fires and redis.call('HGET', P .. 'sched:' .. firing, 'next') ~= fired_at then
    fires = false
    holder = redis.call('HGET', P .. 'sched:' .. firing, 'fired') or ''
    if holder == '' then
      holder = 'full'
    end
  end
  if named and not holder and redis.call('SISMEMBER', P .. 'named', named) == 0 then
    if redis.call('SCARD', P .. 'named') >= most_named then
      holder = 'too_many'
    else
      redis.call('SADD', P .. 'named', named)
    end
  end
  local first = ARGV[a]  -- the first job's id
  if not queued[pool] then
    queued[pool] = tonumber(redis.call('HGET', P .. 'stats', 'queued:' .. pool) or '0')
  end
  local accept = not holder and (due or queued[pool] + n <= max)
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
      if due then
        schedule(id, job, due)
      else
        redis.call('ZADD', lane(queue, named), score, id)
      end
      redis.call('ZADD', P .. 'all', seq, id)
      if key ~= '' then
        redis.call('SET', P .. 'key:' .. key, id)
      end
    end
    a = a + 3 + 2 * fields
  end
  if fires then
    advance_schedule(firing, next_at)
    local sched = P .. 'sched:' .. firing
    redis.call('HSET', sched, 'fired', accept and first or '')
    if accept then
      redis.call('HSET', sched, 'last_at', redis.call('HGET', P .. 'j:' .. first, 'submitted_at'),
        'last_job', first)
    end
  end
  if accept then
    count('submitted', n)
    if batch ~= '' then
      redis.call('HSET', P .. 'batch:' .. batch, 'pending', n)
    end
    if not due then
      queued[pool] = queued[pool] + n
      count('queued:' .. pool, n)
      add_lane(queue, named)
      wake(queue)
    end
  end
end
counted()
tell_all()
return out
