-- claim_to_hold.lua - the worker turns a booking's claim into a hold.
-- KEYS: meta users holds expiry leases   ARGV: booking, expires_ms
-- Returns {"ok"} (also when already held or booked: a redelivery),
-- {"expired"} when the booking has no claim (it went back: its request was
-- never answered 202), or {"not_found"} when the sale has no state.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local booking, expires = ARGV[1], ARGV[2]
local entry = redis.call('HGET', KEYS[3], booking)
if not entry then
  return {'expired'}
end
local state, user = string.match(entry, '^(%a)|%-?%d+|(.*)$')
if state == 'H' or state == 'B' then
  return {'ok'}
end
redis.call('HSET', KEYS[3], booking, 'H|' .. expires .. '|' .. user)
redis.call('ZREM', KEYS[5], booking)
redis.call('ZADD', KEYS[4], expires, booking)
redis.call('HINCRBY', KEYS[1], 'claimed', -1)
redis.call('HINCRBY', KEYS[1], 'held', 1)
return {'ok'}
