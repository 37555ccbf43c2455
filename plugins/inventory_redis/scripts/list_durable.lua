-- list_durable.lua - every durable claim of a sale, for the claim audit.
-- Reads only: it runs unwrapped (no changes_head/changes_tail), since it
-- changes no count.
-- KEYS: meta users holds expiry leases   ARGV: none
-- Returns {"ok", booking1, user1, booking2, user2, ...} (durable claims,
-- state 'Q', only) or {"not_found"}.
-- HGETALL rather than HSCAN: the holds hash has at most `inventory` entries,
-- and a script is atomic whichever command it uses, so HSCAN in here would
-- only add round trips inside Redis; HSCAN across several script calls would
-- lose the one consistent view and could report an entry twice.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found'}
end
local all = redis.call('HGETALL', KEYS[3])
local out = {'ok'}
for i = 1, #all, 2 do
  -- The user comes last: it may hold a '|'.
  local user = string.match(all[i + 1], '^Q|%-?%d+|(.*)$')
  if user then
    out[#out + 1] = all[i]
    out[#out + 1] = user
  end
end
return out
