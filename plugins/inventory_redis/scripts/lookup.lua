-- lookup.lua - the inventory's view of one booking.
-- KEYS: meta users holds expiry leases   ARGV: booking
-- Returns {"ok", state ("H", "B", or "C"/"Q" for a claim), expires_ms, user}
-- or {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local hold = redis.call('HGET', KEYS[3], ARGV[1])
if not hold then
  return {'not_found'}
end
local state, expires, user = string.match(hold, '^(%a)|(%-?%d+)|(.*)$')
return {'ok', state, expires, user}
