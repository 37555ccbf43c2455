-- find_user.lua - the user's held or booked item in the sale, if any.
-- KEYS: meta users holds expiry leases   ARGV: user
-- Returns {"ok", booking} or {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local booking = redis.call('HGET', KEYS[2], ARGV[1])
if not booking then
  return {'not_found'}
end
return {'ok', booking}
