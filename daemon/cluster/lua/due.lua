-- Scheduled jobs whose time has come (delay_s, run_at, a back-off between
-- attempts) join their queues, at most `max` a call. Every node calls it when its
-- timer for the next due job fires: the first moves the jobs, the others find
-- none, and a node that died leaves nothing undone. ARGV: max.
-- Returns the milliseconds until the next job is due (0: more are due now), or -1
-- when none is scheduled.
local ids = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  local job = P .. 'j:' .. id
  local was = fields_of(job, 'state')
  if was.state == 'scheduled' then
    count('scheduled', -1)
    enqueue(id, job, was)
  end
end
if #ids > 0 then
  redis.call('ZREM', P .. 'due', unpack(ids))
end
counted()
tell_all()
return next_due()
