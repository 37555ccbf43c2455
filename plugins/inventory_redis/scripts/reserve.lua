-- reserve.lua - one atomic reserve: idempotent by booking, one per user,
-- then stock.
-- KEYS: meta users holds expiry leases   ARGV: user, booking, expires_ms
-- Returns {"ok"}, {"duplicate", existing_booking}, {"sold_out"},
-- {"conflict"} (the booking id belongs to another user) or {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local user, booking, expires = ARGV[1], ARGV[2], ARGV[3]
local hold = redis.call('HGET', KEYS[3], booking)
if hold then
  -- A retried request takes nothing more; a reused id is the caller's bug.
  if string.match(hold, '^%a|%-?%d+|(.*)$') == user then
    return {'ok'}
  end
  return {'conflict'}
end
local existing = redis.call('HGET', KEYS[2], user)
if existing then
  return {'duplicate', existing}
end
if tonumber(redis.call('HGET', KEYS[1], 'available')) <= 0 then
  return {'sold_out'}
end
redis.call('HSET', KEYS[3], booking, 'H|' .. expires .. '|' .. user)
redis.call('HSET', KEYS[2], user, booking)
fs_holder(user)  -- changes_head.lua
redis.call('ZADD', KEYS[4], expires, booking)
redis.call('HINCRBY', KEYS[1], 'available', -1)
redis.call('HINCRBY', KEYS[1], 'held', 1)
return {'ok'}
