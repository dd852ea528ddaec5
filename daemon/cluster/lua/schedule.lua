-- Recurring schedules (PROTOCOL.md 13), shared by the nodes. Each change is told
-- to every node (`C <name>`), which reads the schedule again. ARGV:
--   'set', name, spec, next (ms, or '' while paused): sets or replaces one; its
--          last firing stays;
--   'del', name;
--   'advance', then for each: name, the time it had (ms), its next or '': a skip,
--          or a firing whose job was refused before it reached Redis, moves the
--          schedule on only if it still has that time (no other node moved it);
--   'read', then names (none: every schedule): for each, its name and fields.
local how = ARGV[1]
if how == 'read' then
  local out = {}
  for _, name in ipairs(names_from(2, 'scheds')) do
    out[#out + 1] = name
    out[#out + 1] = redis.call('HGETALL', P .. 'sched:' .. name)
  end
  return out
end
if how == 'set' then
  redis.call('SADD', P .. 'scheds', ARGV[2])
  redis.call('HSET', P .. 'sched:' .. ARGV[2], 'spec', ARGV[3])
  advance_schedule(ARGV[2], ARGV[4])
elseif how == 'del' then
  redis.call('SREM', P .. 'scheds', ARGV[2])
  redis.call('DEL', P .. 'sched:' .. ARGV[2])
  tell('* C ' .. ARGV[2] .. '\n')
else
  for i = 2, #ARGV, 3 do
    if redis.call('HGET', P .. 'sched:' .. ARGV[i], 'next') == ARGV[i + 1] then
      advance_schedule(ARGV[i], ARGV[i + 2])
      redis.call('HSET', P .. 'sched:' .. ARGV[i], 'fired', '')  -- this time made no job
    end
  end
end
tell_all()
return 0
