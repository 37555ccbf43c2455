-- release.lua - gives a held or claimed item back, exactly once.
-- KEYS: meta users holds expiry leases   ARGV: booking
-- Returns {"ok"} if this call released it, {"conflict"} if it is booked,
-- {"not_found"} if there is no hold (released, expired or never taken).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local hold = redis.call('HGET', KEYS[3], ARGV[1])
if not hold then
  return {'not_found'}
end
local state, _, user = string.match(hold, '^(%a)|(%-?%d+)|(.*)$')
if state == 'B' then
  return {'conflict'}
end
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[2], user) == ARGV[1] then
  redis.call('HDEL', KEYS[2], user)
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'available', 1)
-- C: a claim awaiting its confirm, Q: a durable claim, H: a hold.
redis.call('HINCRBY', KEYS[1], state == 'H' and 'held' or 'claimed', -1)
return {'ok'}
