-- claim.lua - one atomic claim at accept time: idempotent by booking, one
-- per user, then stock. The item leaves `available` now; the claim is
-- leased until claim_durable marks it (its request is safely queued).
-- KEYS: meta users holds expiry leases   ARGV: user, booking, lease_until_ms
-- Returns {"ok"}, {"duplicate", existing_booking}, {"in_flight",
-- existing_booking} (the user's claim awaits its confirm), {"sold_out"},
-- {"conflict"} (the booking id belongs to another user) or {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local user, booking, lease = ARGV[1], ARGV[2], ARGV[3]
local entry = redis.call('HGET', KEYS[3], booking)
if entry then
  if string.match(entry, '^%a|%-?%d+|(.*)$') == user then
    return {'ok'}
  end
  return {'conflict'}
end
local existing = redis.call('HGET', KEYS[2], user)
if existing then
  -- An unconfirmed claim may still end either way (its publish may fail,
  -- its daemon may be dead): "ask again later", not "already booked".
  if string.sub(redis.call('HGET', KEYS[3], existing) or '', 1, 1) == 'C' then
    return {'in_flight', existing}
  end
  return {'duplicate', existing}
end
if tonumber(redis.call('HGET', KEYS[1], 'available')) <= 0 then
  return {'sold_out'}
end
redis.call('HSET', KEYS[3], booking, 'C|' .. lease .. '|' .. user)
redis.call('HSET', KEYS[2], user, booking)
fs_holder(user)  -- changes_head.lua
redis.call('ZADD', KEYS[5], lease, booking)
redis.call('HINCRBY', KEYS[1], 'available', -1)
redis.call('HINCRBY', KEYS[1], 'claimed', 1)
return {'ok'}
