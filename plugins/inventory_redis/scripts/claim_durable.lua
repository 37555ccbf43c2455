-- claim_durable.lua - marks claims whose requests the queue confirmed: they
-- leave the lease set, so no daemon gives them back any more. One call per
-- confirm window. Racing claim_expire, whichever runs first wins: a claim
-- given back answers "expired" here and its request answers 503.
-- KEYS: meta users holds expiry leases   ARGV: booking, booking, ...
-- Returns {"ok", r1, r2, ...} with each r "ok" or "expired", or
-- {"not_found"} when the sale has no state.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local out = {'ok'}
for _, booking in ipairs(ARGV) do
  local entry = redis.call('HGET', KEYS[3], booking)
  local state, user
  if entry then
    state, user = string.match(entry, '^(%a)|%-?%d+|(.*)$')
  end
  if state == 'C' then
    redis.call('HSET', KEYS[3], booking, 'Q|0|' .. user)
    redis.call('ZREM', KEYS[5], booking)
    out[#out + 1] = 'ok'
  elseif state then
    out[#out + 1] = 'ok'  -- durable already, or the worker made it a hold
  else
    out[#out + 1] = 'expired'
  end
end
return out
