-- Cancels a job that no one here runs: queued, claimed or running on any node.
-- ARGV: id, finished_at, retention (ttl ms, most jobs, most bytes). Returns {'no_such_job'}, {'final', state}, {'fixed'}
-- (a running task that cannot be stopped), or {'cancelled', the job's fields,
-- the node that held it or '', and its batch's id and counts if it ended it}.
local id = ARGV[1]
local job = P .. 'j:' .. id
local state = redis.call('HGET', job, 'state')
if not state then
  return { 'no_such_job' }
end
if state ~= 'queued' and state ~= 'running' then
  return { 'final', state }
end
if state == 'running' and redis.call('HGET', job, 'cancellable') == '0' then
  return { 'fixed' }
end
local queue = queue_of(job)
redis.call('ZREM', P .. 'q:' .. queue, id)
local node = redis.call('HGET', job, 'node') or ''
redis.call('HSET', job, 'state', 'cancelled', 'finished_at', ARGV[2], 'error_code', 'cancelled',
  'error_message', 'cancelled by request')
local batch = leave(id, job, state, 'cancelled')
local fields = redis.call('HGETALL', job)
expire(tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return { 'cancelled', fields, node, batch or '' }
