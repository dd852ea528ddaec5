-- Queues a failed or cancelled job again under its id (`retry`), in its place by
-- priority and arrival. Its retention ends; its batch, if still going, waits for
-- it again. ARGV: id. Returns {'no_such_job'}, or {'retried' or 'not' (a job in
-- another state, left as it is), the job's fields}.
local id = ARGV[1]
local job = P .. 'j:' .. id
local was = fields_of(job, 'state', 'size')
local state = was.state
if not state then
  return { 'no_such_job' }
end
if state ~= 'failed' and state ~= 'cancelled' then
  return { 'not', redis.call('HGETALL', job) }
end
redis.call('ZREM', P .. 'done', id)
count('retained_bytes', -tonumber(was.size or '0'))
local batch = was.batch and P .. 'batch:' .. was.batch
if batch and redis.call('EXISTS', batch) == 1 then
  redis.call('HINCRBY', batch, state, -1)
  redis.call('HINCRBY', batch, 'pending', 1)
end
redis.call('HDEL', job, 'result', 'error_code', 'error_message', 'progress', 'worker', 'node',
  'scheduled_for', 'started_at', 'finished_at', 'size')
enqueue(id, job, was)
counted()
tell_all()
return { 'retried', redis.call('HGETALL', job) }
