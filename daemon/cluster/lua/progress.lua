-- A running task told how far it has got. ARGV: id, token, progress.
local job = P .. 'j:' .. ARGV[1]
if redis.call('HGET', job, 'token') == ARGV[2] then
  redis.call('HSET', job, 'progress', ARGV[3])
end
return 0
