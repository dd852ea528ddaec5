-- Jobs newest first. ARGV: state, id prefix, text in the id, task, queue, batch
-- (each '' for any), limit, and the id the list starts after ('' for the newest).
-- Returns each job's fields (HGETALL), or {'no_such_job'} if that id is not known.
local state, prefix, contains, task, queue, batch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6]
local limit, before = tonumber(ARGV[7]), ARGV[8]
local out = {}
local from = 0
if before ~= '' then
  local rank = redis.call('ZREVRANK', P .. 'all', before)
  if not rank then
    return { 'no_such_job' }
  end
  from = rank + 1
end
while #out < limit do
  local ids = redis.call('ZREVRANGE', P .. 'all', from, from + 499)
  if #ids == 0 then
    break
  end
  for _, id in ipairs(ids) do
    local job = P .. 'j:' .. id
    if (prefix == '' or string.sub(id, 1, #prefix) == prefix) and
        (contains == '' or string.find(id, contains, 1, true)) then
      local f = redis.call('HMGET', job, 'state', 'task', 'queue', 'batch')
      if (state == '' or f[1] == state) and (task == '' or f[2] == task) and
          (queue == '' or f[3] == queue) and (batch == '' or f[4] == batch) then
        out[#out + 1] = redis.call('HGETALL', job)
        if #out == limit then
          break
        end
      end
    end
  end
  from = from + 500
end
return out
