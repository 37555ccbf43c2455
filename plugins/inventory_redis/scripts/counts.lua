-- counts.lua - a sale's live counts.
-- KEYS: meta users holds expiry leases   ARGV: (none)
-- Returns {"ok", inventory, available, held, booked}, or {"not_found"} when
-- the meta hash is absent: the sale was never installed, or Redis lost it.
local m = redis.call('HMGET', KEYS[1], 'inventory', 'available', 'held', 'booked')
if not m[1] then
  return {'not_found'}
end
return {'ok', m[1], m[2], m[3], m[4]}
