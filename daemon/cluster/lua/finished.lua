-- Runs of this node's claims ended.
-- ARGV: node, retention (ttl ms, most jobs, most bytes), then for each: id, token,
-- state, its job.started message where its start was held back to be written
-- with its end (else ''), its job.finished message (each told where it is
-- heard: anyone_hears(), end_heard()), field count, fields and
-- values (finished_at, attempts, result or error; and the start's where it was
-- held back). The messages go out with the ends, so that a batch's end, told
-- after them, comes after every end of the batch. A job whose start was held
-- back is still `queued`: it leaves that state for its end.
-- Returns for each: 0 if the claim was no longer the node's (the job was
-- cancelled elsewhere, or its lease lapsed: it is someone else's to end), 1 if
-- it ended, or its batch's id and counts when it ended the batch; then the jobs
-- that waited for them and were cancelled (id, batch).
local out = {}
local a = 5
while a <= #ARGV do
  local id, token, final, began, message = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local fields = tonumber(ARGV[a + 5])
  local job = P .. 'j:' .. id
  local was = fields_of(job, 'token', 'state', 'held')
  if was.token ~= token then
    out[#out + 1] = 0
  else
    local size = #message  -- what it holds, about: the message has its payloads
    redis.call('HSET', job, 'state', final, 'size', int_text(size),
      unpack(ARGV, a + 6, a + 5 + 2 * fields))
    out[#out + 1] = leave(id, job, was, final, size) or 1
    if began ~= '' and anyone_hears() then
      tell(began)
    end
    if end_heard(ARGV[1], was.held) then
      tell(message)
    end
  end
  a = a + 6 + 2 * fields
end
settle()
counted()
tell_all()
expire(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return with_ended_too(out)
