-- Accepts the submits and maps of one round trip, each whole or not at all.
-- ARGV: the node, the most jobs a pool may have queued, the most named queues,
-- the number of requests, then for each: its job count, pool, queue, the number of its
-- options and each as name and value (of these, the ones it has: `named`, its
-- named queue; `key`, its idempotency key; `batch`; `then`, the batch's; `due`,
-- when its jobs are due (ms); `after`, the jobs they come after (ids,
-- space-separated); `follows`, the map whose follow-up it is; `firing`, the
-- schedule it is a firing of, with `fired_at` the time that fired (ms), `next_at`
-- the schedule's next ('' for none) and `submitted_at` its job's (ms)), then for
-- each job: id, priority, field count, then fields and values. Jobs due later, or
-- after others, take no room in the queue until then.
-- Returns for each request 'ok', 'waiting' (for jobs it comes after), 'cancelled
-- <id> <state>' (a job it comes after failed or was cancelled: so were they),
-- 'full', 'too_many' (its named queue would be one too many), 'no_such_job <id>'
-- (in its `after`), or the id of the job that holds its key; then the jobs that
-- ended as they were accepted (id, batch).
-- Every node fires a schedule when its time comes; the first moves it on, and a
-- later firing of that time answers as the first did: its job, or 'full'. A map's
-- follow-up is taken once, and a later one answered with it.
local node, max, most_named = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
-- The last arrival's number: read at the call's first accepted request, written
-- back once at its end, rather than a command a request.
local arrived
local queued = {}
local a = 5
for r = 1, tonumber(ARGV[4]) do
  local n, pool, queue = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2]
  local o = {}
  for i = a + 4, a + 3 + 2 * tonumber(ARGV[a + 3]), 2 do
    o[ARGV[i]] = ARGV[i + 1]
  end
  a = a + 4 + 2 * tonumber(ARGV[a + 3])
  local named, key, batch, batch_then = o.named, o.key or '', o.batch or '', o['then'] or ''
  local due, after, follows, firing = tonumber(o.due), o.after or '', o.follows or '', o.firing or ''
  local holder = key ~= '' and redis.call('GET', P .. 'key:' .. key)
  local fires = firing ~= ''
  if fires and redis.call('HGET', P .. 'sched:' .. firing, 'next') ~= o.fired_at then
    fires = false
    holder = redis.call('HGET', P .. 'sched:' .. firing, 'fired') or ''
    if holder == '' then
      holder = 'full'
    end
  end
  if follows ~= '' and redis.call('EXISTS', P .. 'follow:' .. follows) == 0 then
    holder = redis.call('GET', P .. 'followed:' .. follows) or 'full'
  end
  -- The jobs it comes after (each once): those not yet ended, or the first that
  -- failed.
  local pending, failed, seen = {}, nil, {}
  for dep in string.gmatch(after, '%S+') do
    if not seen[dep] then
      seen[dep] = true
      local state = redis.call('HGET', P .. 'j:' .. dep, 'state')
      if not state then
        holder = holder or 'no_such_job ' .. dep
      elseif state == 'failed' or state == 'cancelled' then
        failed = failed or { dep, state }
      elseif state ~= 'succeeded' then
        pending[#pending + 1] = dep
      end
    end
  end
  if named and not holder and redis.call('SISMEMBER', P .. 'named', named) == 0 then
    if redis.call('SCARD', P .. 'named') >= most_named then
      holder = 'too_many'
    else
      redis.call('SADD', P .. 'named', named)
    end
  end
  if not queued[pool] then
    queued[pool] = tonumber(redis.call('HGET', P .. 'stats', 'queued:' .. pool) or '0')
  end
  local accept = not holder and (due or after ~= '' or queued[pool] + n <= max)
  local queues_now = not due and #pending == 0 and not failed
  out[r] = holder or (not accept and 'full') or (failed and 'cancelled ' .. failed[1] .. ' ' .. failed[2])
    or (#pending > 0 and 'waiting') or 'ok'
  local first = ARGV[a]  -- the first job's id
  if accept then
    count('submitted', n)
    if batch ~= '' then
      redis.call('HSET', P .. 'batch:' .. batch, 'pending', n)
    end
    if batch_then ~= '' then
      redis.call('HSET', P .. 'batch:' .. batch, 'then', batch_then)
    end
    if follows ~= '' then
      redis.call('DEL', P .. 'follow:' .. follows)
      redis.call('ZREM', P .. 'follows', follows)
      redis.call('SET', P .. 'followed:' .. follows, first, 'PX', 3600000)
    end
  end
  local seq
  if accept then
    arrived = arrived or tonumber(redis.call('GET', P .. 'seq') or '0')
    seq, arrived = arrived, arrived + n
  end
  for _ = 1, n do
    local id, priority, fields = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    if accept then
      seq = seq + 1
      -- Priorities are -100 to 100: 201 bands of 2^44 arrivals, exact in a double.
      local score = int_text(-((100 - priority) * 17592186044416 + seq))
      local job = P .. 'j:' .. id
      redis.call('HSET', job, 'state', 'queued', 'score', score, 'held', node,
        unpack(ARGV, a + 3, a + 2 + 2 * fields))
      gather('ZADD', P .. 'all', int_text(seq), id)
      if batch_then ~= '' then
        redis.call('RPUSH', P .. 'batch:' .. batch .. ':jobs', id)
      end
      if key ~= '' then
        redis.call('SET', P .. 'key:' .. key, id)
      end
      if failed then
        count('waiting', 1)
        local size = size_of(job)
        redis.call('HSET', job, 'state', 'cancelled', 'finished_at', now_ms(), 'error_code',
          'dependency_failed', 'error_message', 'job ' .. failed[1] .. ' ' .. failed[2], 'size', size)
        local was = { state = 'waiting', pool = pool, batch = batch ~= '' and batch or nil }
        local ended = leave(id, job, was, 'cancelled', size)
        ended_too[#ended_too + 1] = id
        ended_too[#ended_too + 1] = ended or ''
      elseif #pending > 0 then
        wait_for(id, job, pending, due)
      elseif due then
        schedule(id, job, due)
      else
        gather('ZADD', lane(queue, named), score, id)
      end
    end
    a = a + 3 + 2 * fields
  end
  if fires then
    advance_schedule(firing, o.next_at)
    local sched = P .. 'sched:' .. firing
    redis.call('HSET', sched, 'fired', accept and first or '')
    if accept then
      redis.call('HSET', sched, 'last_at', o.submitted_at, 'last_job', first)
    end
  end
  if accept and queues_now then
    queued[pool] = queued[pool] + n
    count('queued:' .. pool, n)
    add_lane(queue, named)
    wake(queue)
  end
end
if arrived then
  redis.call('SET', P .. 'seq', int_text(arrived))
end
settle()
counted()
tell_all()
return with_ended_too(out)
