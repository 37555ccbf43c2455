-- expire_due.lua - releases up to max holds with expires_ms <= now_ms and
-- reports them; a hold leaves the expiry set in the same step, so each is
-- reported by exactly one call.
-- KEYS: meta users holds expiry leases   ARGV: now_ms, max
-- Returns {"ok", booking, user, expires_ms, booking, user, expires_ms, ...}
-- (earliest expiry first) or {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1],
                       'LIMIT', 0, ARGV[2])
local out = {'ok'}
for _, booking in ipairs(due) do
  redis.call('ZREM', KEYS[4], booking)
  local hold = redis.call('HGET', KEYS[3], booking)
  local state, expires, user
  if hold then
    state, expires, user = string.match(hold, '^(%a)|(%-?%d+)|(.*)$')
  end
  -- Only holds are in the set; anything else is a stale entry to drop.
  if state == 'H' then
    redis.call('HDEL', KEYS[3], booking)
    if redis.call('HGET', KEYS[2], user) == booking then
      redis.call('HDEL', KEYS[2], user)
    end
    redis.call('HINCRBY', KEYS[1], 'available', 1)
    redis.call('HINCRBY', KEYS[1], 'held', -1)
    out[#out + 1] = booking
    out[#out + 1] = user
    out[#out + 1] = expires
  end
end
return out
