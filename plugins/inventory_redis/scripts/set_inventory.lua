-- set_inventory.lua - changes a sale's total.
-- KEYS: meta users holds expiry leases   ARGV: inventory
-- Returns {"ok"}, {"conflict"} when below held + booked + claimed, or {"not_found"}.
local m = redis.call('HMGET', KEYS[1], 'held', 'booked', 'claimed')
if not m[1] then
  return {'not_found'}
end
local inventory = tonumber(ARGV[1])
local taken = tonumber(m[1]) + tonumber(m[2]) + tonumber(m[3] or '0')
if inventory < taken then
  return {'conflict'}
end
redis.call('HSET', KEYS[1], 'inventory', ARGV[1],
           'available', string.format('%d', inventory - taken))
return {'ok'}
