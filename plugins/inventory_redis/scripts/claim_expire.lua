-- claim_expire.lua - gives back up to max unconfirmed claims whose lease has
-- passed (their daemon died between claim and confirm) and reports them; a
-- claim leaves the lease set in the same step, so each is reported once.
-- KEYS: meta users holds expiry leases   ARGV: now_ms, max
-- Returns {"ok", booking, user, lease_ms, ...} or {"not_found"}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1],
                       'LIMIT', 0, ARGV[2])
local out = {'ok'}
for _, booking in ipairs(due) do
  redis.call('ZREM', KEYS[5], booking)
  local entry = redis.call('HGET', KEYS[3], booking)
  local state, lease, user
  if entry then
    state, lease, user = string.match(entry, '^(%a)|(%-?%d+)|(.*)$')
  end
  if state == 'C' then
    redis.call('HDEL', KEYS[3], booking)
    if redis.call('HGET', KEYS[2], user) == booking then
      redis.call('HDEL', KEYS[2], user)
    end
    redis.call('HINCRBY', KEYS[1], 'available', 1)
    redis.call('HINCRBY', KEYS[1], 'claimed', -1)
    out[#out + 1] = booking
    out[#out + 1] = user
    out[#out + 1] = lease
  end
end
return out
