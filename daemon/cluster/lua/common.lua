-- What every script of the job store shares; it comes first in each of them.
--
-- KEYS[1] is the cluster's prefix, `tp:{<cluster.name>}:`, and every key is under
-- it (the braces keep a service's keys in one Redis Cluster slot):
--   seq             counter: the order of arrival
--   j:<id>          hash: a job (fields in job_fields.cpp)
--   q:<queue>       zset: runnable jobs, the best the highest score (priority, then
--                   arrival: a job's `score` is minus both), so that a new job
--                   goes in at the head of the small zsets Redis keeps as lists,
--                   with one comparison rather than one a job queued; a queue
--                   is a pool's name, or `remote:<task>` on the remote pool
--   q:<queue>@<name> zset: the same, of the jobs of a named queue (PROTOCOL.md
--                   12): a lane of its own, so that a held queue holds back none
--                   other
--   lanes:<queue>   set: the named queues with a lane in the queue
--   named           set: every named queue; named:<name> a hash of its limits
--                   (max, rate starts per `per` ms, by_op where an op set
--                   them), paused, active (runs claimed), and its rate's bucket
--                   (tokens, refilled at ms); named:<name>:queues the queues it
--                   has lanes in
--   paused          set: paused pools
--   due             zset: scheduled jobs by the time they are due (ms), which then
--                   join their queues (due.lua)
--   idle:<queue>    set: nodes that found the queue empty (or every lane held),
--                   to wake
--   all             zset: every job by seq (list)
--   done            zset: finished jobs by the time they finished (retention)
--   run:<node>      hash: job id -> token, the jobs a node has claimed
--   hear            set: nodes that relay every job's lines (their subscribers,
--                   watches and event streams hear them from here, their own
--                   jobs' included), or wait on jobs that other nodes submitted
--   nodes           zset: node -> its lease's end (ms on Redis's clock)
--   node:<node>     hash: what stats shows of a node
--   key:<key>       string: the job that holds an idempotency key
--   batch:<id>      hash: a map's pending and finished counts, and its `then`;
--                   batch:<id>:jobs its jobs in item order, where it has one
--   follows         zset: maps whose follow-up is yet to be submitted, by when
--                   (ms) a node last took it on; follow:<id> a hash of its then,
--                   results and submitter; followed:<id> the follow-up's id
--   after:<id>      set: the jobs waiting for this one (`after`); each such job
--                   has `unmet`, how many it still waits for
--   stats           hash: submitted, succeeded, failed, cancelled, running,
--                   scheduled, queued:<pool>, retained_bytes (what finished jobs
--                   hold)
--   kv              hash: the shared key-value store; kvbytes its size
--   scheds          set: the names of the recurring schedules
--   sched:<name>    hash: a schedule: spec (its JSON), next (ms; none while
--                   paused), last_at (ms) and last_job, and fired: the job of its
--                   latest firing ('' where it was refused)
--   ev              channel: events, each `<origin> <kind> <id>\n<line>`, several
--                   to a message, one after another (line by line); a job's
--                   job.started and job.finished lines only where heard
--                   (anyone_hears(), end_heard()); from the
--                   scripts (origin `*`): `W <queue>`, the queue has jobs again
--                   (`W *`: every queue may),
--                   `D <ms>`, the next job is due in that many milliseconds, and
--                   `C <name>`, the schedule changed
local P = KEYS[1]

-- Redis's clock, read once a call.
local clock
local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end

-- Numbers handed to redis.call() are made text with a float format, which costs a
-- job's scripts more than some of their commands: the hot paths hand text made
-- once with an integer format instead.
local function int_text(n)
  return string.format('%d', n)
end
local clock_text
local function now_text()
  clock_text = clock_text or int_text(now_ms())
  return clock_text
end

-- Changes to the `stats` counters, summed over a call and written once at its end
-- (count(); counted()).
local counts = {}
local function count(name, by)
  counts[name] = (counts[name] or 0) + by
end

-- Writes of many jobs to one key (a job submitted: into `all` and its queue; one
-- ended: into `done`, out of its node's `run:`), gathered over a call and made at
-- its end, one command a key (counted()): a command a script calls costs Redis
-- several times what an argument more to one costs. `b`: a second argument, as a
-- ZADD's member after its score.
local gathered = {}
local function gather(command, key, a, b)
  local by_key = gathered[command]
  if not by_key then
    by_key = {}
    gathered[command] = by_key
  end
  local args = by_key[key]
  if not args then
    args = {}
    by_key[key] = args
  end
  args[#args + 1] = a
  if b then
    args[#args + 1] = b
  end
end

local function counted()
  for name, by in pairs(counts) do
    if by ~= 0 then
      redis.call('HINCRBY', P .. 'stats', name, by)
    end
  end
  counts = {}
  for command, by_key in pairs(gathered) do
    for key, args in pairs(by_key) do
      for i = 1, #args, 1000 do  -- unpack() is bounded by Lua's stack
        redis.call(command, key, unpack(args, i, math.min(i + 999, #args)))
      end
    end
  end
  gathered = {}
end

-- How long until the next scheduled job is due (ms): -1 when none is.
local function next_due()
  local head = redis.call('ZRANGE', P .. 'due', 0, 0, 'WITHSCORES')
  if not head[1] then
    return -1
  end
  return math.max(0, tonumber(head[2]) - now_ms())
end

-- The names given from ARGV[from] on, or where none is, every member of `set`.
local function names_from(from, set)
  local names = { unpack(ARGV, from) }
  if #names == 0 then
    names = redis.call('SMEMBERS', P .. set)
  end
  return names
end

-- Whether a job's lines are read anywhere: every line by the nodes in `hear`,
-- and its job.finished also by a node other than the one that ended it that
-- holds the job, to answer its waits (its `held`: the node that submitted it, or
-- `*` once another took it). Most of a job's cost in Redis was its lines, which
-- no node read where none listens and a node runs what it submits.
local hearing
local function anyone_hears()
  hearing = hearing or redis.call('SCARD', P .. 'hear')
  return hearing > 0
end
local function end_heard(node, held)
  return anyone_hears() or held ~= node
end

-- Events of a call, published together at its end as one message (tell_all()).
local told = {}
local function tell(message)
  told[#told + 1] = message
end

-- A job waits in `due` until `at` (ms on Redis's clock). When a call made the
-- next job due sooner, every node hears when, to set its timer for it.
local soonest
local function schedule(id, job, at)
  redis.call('ZADD', P .. 'due', at, id)
  redis.call('HSET', job, 'state', 'scheduled', 'scheduled_for', at)
  count('scheduled', 1)
  soonest = math.min(soonest or at, at)
end

local function tell_all()
  if soonest and tonumber(redis.call('ZRANGE', P .. 'due', 0, 0, 'WITHSCORES')[2]) == soonest then
    tell('* D ' .. next_due() .. '\n')
  end
  soonest = nil
  if #told > 0 then
    redis.call('PUBLISH', P .. 'ev', table.concat(told, '\n'))
    told = {}
  end
end

-- The queue of a job of this pool and task.
local function queue_name(pool, task)
  return pool == 'remote' and 'remote:' .. task or pool
end

-- The key of a queue's runnable jobs of named queue `named` (none: of no name).
local function lane(queue, named)
  return P .. 'q:' .. queue .. (named and '@' .. named or '')
end


-- Nodes that found an empty queue are told it has jobs again, once a call.
local woken = {}
local function wake(queue)
  if not woken[queue] and redis.call('SCARD', P .. 'idle:' .. queue) > 0 then
    redis.call('DEL', P .. 'idle:' .. queue)
    tell('* W ' .. queue .. '\n')
  end
  woken[queue] = true
end

-- Jobs of named queue `named` join queue `queue`: its lane there is made known.
local function add_lane(queue, named)
  if named then
    redis.call('SADD', P .. 'lanes:' .. queue, named)
    redis.call('SADD', P .. 'named', named)
    redis.call('SADD', P .. 'named:' .. named .. ':queues', queue)
  end
end

-- A job's fields that the scripts share (pool, task, queue, node, batch, score,
-- waited: whether jobs wait for it), and those `...` names, read at once: a
-- table by field name.
local function fields_of(job, ...)
  local names = { 'pool', 'task', 'queue', 'node', 'batch', 'score', 'waited', ... }
  local values = redis.call('HMGET', job, unpack(names))
  local f = {}
  for i, name in ipairs(names) do
    f[name] = values[i] or nil
  end
  return f
end

-- A job (`f`: its fields_of(), not counted as queued) joins its queue, in its
-- place by priority and arrival.
local function enqueue(id, job, f)
  local queue = queue_name(f.pool, f.task)
  add_lane(queue, f.queue)
  redis.call('HSET', job, 'state', 'queued')
  redis.call('ZADD', lane(queue, f.queue), f.score, id)
  count('queued:' .. f.pool, 1)
  wake(queue)
end

-- A node's claim on a job (`f`: its fields_of()) ends: it ended, or went back. A
-- slot of its named queue is free, for whichever node waits for one.
local function unclaim(f)
  if f.queue then
    redis.call('HINCRBY', P .. 'named:' .. f.queue, 'active', -1)
    wake(queue_name(f.pool, f.task))
  end
end

-- The counter of jobs in `state` (scheduled, queued or running) on `pool`.
local function counter(state, pool)
  if state == 'queued' then
    return 'queued:' .. pool
  end
  return state
end

-- A map with `then` ended (`ended`: its id and counts). Once every job has
-- succeeded, its results in item order wait in follow:<batch> for the node that
-- ended it to submit the follow-up (or another node, if that one does not within
-- a lease), and `ended` gets 'follow', the batch, its then, the results and who
-- submitted the map; else it gets 'error' and why there is no follow-up.
local function follow_batch(batch, ended, then_spec)
  local list = P .. 'batch:' .. batch .. ':jobs'
  local ids = redis.call('LRANGE', list, 0, -1)
  redis.call('DEL', list)
  local results = {}
  for _, id in ipairs(ids) do
    local job = redis.call('HMGET', P .. 'j:' .. id, 'state', 'result')
    if job[1] ~= 'succeeded' then
      ended[5] = 'error'
      ended[6] = job[1] and 'job ' .. id .. ' of the batch ' .. job[1]
        or 'a job of the batch is no longer kept, nor its result'
      return
    end
    results[#results + 1] = job[2] or 'null'
  end
  local text = '[' .. table.concat(results, ',') .. ']'
  local by = redis.call('HGET', P .. 'j:' .. ids[#ids], 'submitted_by') or ''
  redis.call('HSET', P .. 'follow:' .. batch, 'then', then_spec, 'results', text, 'by', by)
  redis.call('ZADD', P .. 'follows', now_ms(), batch)
  for _, v in ipairs({ 'follow', batch, then_spec, text, by }) do
    ended[#ended + 1] = v
  end
end

-- Jobs that ended in this call, whose dependents are yet to hear it (settle()).
local settling = {}
-- Jobs a call ended besides those it was asked to (a failed dependency cancelled
-- them): id and its batch's counts or '' each, for the node that made the call to
-- announce (with_ended_too()).
local ended_too = {}

-- A job leaves its state `was.state` (scheduled, waiting, queued or running) for
-- the end `final`: counted, kept for retention (`size`: what it holds, about,
-- which the caller has written in its `size` field), and counted in its batch
-- unless that has ended (a job retried after it). `was`: its fields_of() and
-- state. Returns the batch's id and counts when it was the batch's last job (and
-- what follow_batch() adds), else nil.
local function leave(id, job, was, final, size)
  count(counter(was.state, was.pool), -1)
  count(final, 1)
  count('retained_bytes', size)
  gather('ZADD', P .. 'done', now_text(), id)
  if was.waited then
    settling[#settling + 1] = { id, final }
  end
  if was.node then
    gather('HDEL', P .. 'run:' .. was.node, id)
    unclaim(was)
  end
  redis.call('HDEL', job, 'token')
  local batch = was.batch
  local b = batch and P .. 'batch:' .. batch
  if not b or redis.call('EXISTS', b) == 0 then
    return nil
  end
  redis.call('HINCRBY', b, final, 1)
  if redis.call('HINCRBY', b, 'pending', -1) > 0 then
    return nil
  end
  local counts = redis.call('HMGET', b, 'succeeded', 'failed', 'cancelled', 'then')
  redis.call('DEL', b)
  local ended = { batch, counts[1] or '0', counts[2] or '0', counts[3] or '0' }
  if counts[4] then
    follow_batch(batch, ended, counts[4])
  end
  return ended
end

-- What a finished job holds, about: its payloads (its args are in its spec).
local function size_of(job)
  local size = 0
  for _, v in ipairs(redis.call('HMGET', job, 'spec', 'result', 'progress', 'error_message')) do
    size = size + (v and #v or 0)
  end
  return size
end

-- A new job waits for the jobs in `pending` to succeed; then it is queued, or
-- scheduled for `due`.
local function wait_for(id, job, pending, due)
  redis.call('HSET', job, 'state', 'waiting', 'unmet', #pending)
  if due then
    redis.call('HSET', job, 'scheduled_for', due)
  end
  for _, dep in ipairs(pending) do
    redis.call('SADD', P .. 'after:' .. dep, id)
    redis.call('HSET', P .. 'j:' .. dep, 'waited', '1')
  end
  count('waiting', 1)
end

-- The jobs waiting for those that ended in this call hear it: one that waits for
-- no more successes goes on (queued, or scheduled for its time); one after a job
-- that failed or was cancelled is cancelled, and so on down the chain.
local function settle()
  local i = 1
  while i <= #settling do
    local id, final = settling[i][1], settling[i][2]
    i = i + 1
    local key = P .. 'after:' .. id
    for _, dependent in ipairs(redis.call('SMEMBERS', key)) do
      local job = P .. 'j:' .. dependent
      local was = fields_of(job, 'state', 'scheduled_for')
      if was.state == 'waiting' and final ~= 'succeeded' then
        local size = size_of(job)
        redis.call('HSET', job, 'state', 'cancelled', 'finished_at', now_ms(), 'error_code',
          'dependency_failed', 'error_message', 'job ' .. id .. ' ' .. final, 'size', size)
        local batch = leave(dependent, job, was, 'cancelled', size)
        ended_too[#ended_too + 1] = dependent
        ended_too[#ended_too + 1] = batch or ''
      elseif was.state == 'waiting' and redis.call('HINCRBY', job, 'unmet', -1) <= 0 then
        count('waiting', -1)
        local at = tonumber(was.scheduled_for)
        if at and at > now_ms() then
          schedule(dependent, job, at)
        else
          enqueue(dependent, job, was)
        end
      end
    end
    redis.call('DEL', key)
  end
  settling = {}
end

-- A script's answer `out`, and after it the jobs it ended besides (after settle()).
local function with_ended_too(out)
  for _, e in ipairs(ended_too) do
    out[#out + 1] = e
  end
  return out
end

-- Finished jobs go once their retention is over (`ttl` ms), and the oldest go
-- while more than `max` are kept or they hold more than `max_bytes`; at most 1,000
-- a call, so that no call holds Redis up for long. A service at its `max` drops
-- about a job for each that ends: their keys go in one DEL, their index entries in
-- one ZREM a key.
local function expire(ttl, max, max_bytes)
  counted()
  local budget, freed, gone = 1000, 0, {}
  local function drop(id)
    local job = P .. 'j:' .. id
    local f = redis.call('HMGET', job, 'key', 'size')
    if f[1] and redis.call('GET', P .. 'key:' .. f[1]) == id then
      gone[#gone + 1] = P .. 'key:' .. f[1]
    end
    gone[#gone + 1] = job
    gather('ZREM', P .. 'all', id)
    gather('ZREM', P .. 'done', id)
    budget = budget - 1
    local size = tonumber(f[2] or '0')
    freed = freed + size
    return size
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'done', '-inf', now_ms() - ttl, 'LIMIT', 0, budget)) do
    drop(id)
  end
  -- The oldest of the rest, from the rank past those already dropped (which are
  -- still in `done` until the ZREM at the end).
  local rank = 1000 - budget
  local kept = redis.call('ZCARD', P .. 'done') - rank
  local bytes = tonumber(redis.call('HGET', P .. 'stats', 'retained_bytes') or '0') - freed
  while budget > 0 and (kept > max or bytes > max_bytes) do
    local ids = redis.call('ZRANGE', P .. 'done', rank, rank + math.min(budget, math.max(kept - max, 1)) - 1)
    if #ids == 0 then
      break
    end
    rank = rank + #ids
    for _, id in ipairs(ids) do
      if kept <= max and bytes <= max_bytes then
        break
      end
      bytes = bytes - drop(id)
      kept = kept - 1
    end
  end
  count('retained_bytes', -freed)
  for i = 1, #gone, 1000 do
    redis.call('DEL', unpack(gone, i, math.min(i + 999, #gone)))
  end
  counted()
end

-- A schedule moves on to its next time (ms, or '' for none), and the nodes hear it.
local function advance_schedule(name, next_at)
  local key = P .. 'sched:' .. name
  if next_at == '' then
    redis.call('HDEL', key, 'next')
  else
    redis.call('HSET', key, 'next', next_at)
  end
  tell('* C ' .. name .. '\n')
end
