-- Cancels a job that no one here runs: scheduled, waiting, queued, claimed or
-- running on any node.
-- ARGV: id, finished_at, retention (ttl ms, most jobs, most bytes). Returns
-- {'no_such_job'}, {'final', state}, {'fixed'} (a running task that cannot be
-- stopped), or {'cancelled', the job's fields, the node that held it or '', its
-- batch's id and counts if it ended it or '', then the jobs that waited for it and
-- were cancelled (id, batch)}.
local id = ARGV[1]
local job = P .. 'j:' .. id
local was = fields_of(job, 'state', 'cancellable')
local state = was.state
if not state then
  return { 'no_such_job' }
end
if state ~= 'scheduled' and state ~= 'waiting' and state ~= 'queued' and state ~= 'running' then
  return { 'final', state }
end
if state == 'running' and was.cancellable ~= '1' then
  return { 'fixed' }
end
redis.call('ZREM', state == 'scheduled' and P .. 'due' or lane(queue_name(was.pool, was.task), was.queue), id)
local size = size_of(job)
redis.call('HSET', job, 'state', 'cancelled', 'finished_at', ARGV[2], 'error_code', 'cancelled',
  'error_message', 'cancelled by request', 'size', size)
local batch = leave(id, job, was, 'cancelled', size)
settle()
counted()
tell_all()
local fields = redis.call('HGETALL', job)
expire(tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return with_ended_too({ 'cancelled', fields, was.node or '', batch or '' })
