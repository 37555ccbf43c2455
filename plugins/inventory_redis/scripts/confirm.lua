-- confirm.lua - turns a live hold into a booked item.
-- KEYS: meta users holds expiry leases   ARGV: booking, now_ms
-- Returns {"ok"} (also when already booked), {"expired"} when
-- expires_ms <= now_ms (the item stays held: expire_due gives it back), or
-- {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local hold = redis.call('HGET', KEYS[3], ARGV[1])
if not hold then
  return {'not_found'}
end
local state, expires, user = string.match(hold, '^(%a)|(%-?%d+)|(.*)$')
if state == 'B' then
  return {'ok'}
end
if state ~= 'H' then
  return {'not_found'}  -- a claim is not a hold yet
end
if tonumber(expires) <= tonumber(ARGV[2]) then
  return {'expired'}
end
redis.call('HSET', KEYS[3], ARGV[1], 'B|0|' .. user)
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'held', -1)
redis.call('HINCRBY', KEYS[1], 'booked', 1)
return {'ok'}
