-- Jobs newest first. ARGV: state or '', id prefix or '', limit.
-- Returns each job's fields (HGETALL).
local state, prefix, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
local from = 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', P .. 'all', from, from + 499)
  if #ids == 0 then
    break
  end
  for _, id in ipairs(ids) do
    local job = P .. 'j:' .. id
    if (prefix == '' or string.sub(id, 1, #prefix) == prefix) and
        (state == '' or redis.call('HGET', job, 'state') == state) then
      out[#out + 1] = redis.call('HGETALL', job)
      if #out == limit then
        break
      end
    end
  end
  from = from + 500
end
return out
