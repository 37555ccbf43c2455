-- rebuild.lua - installs a sale from storage's truth, only if Redis has none.
-- KEYS: meta users holds expiry leases
-- ARGV: inventory, epoch, then four per entry: booking, user, state, expires_ms
--       (state "H" for a hold, "B" for a booked item, "Q" for a durable
--       claim: a booking accepted and still queued)
-- Returns {"ok"}, {"conflict"} when the meta hash exists, or
-- {"invalid", why} when the entries break a rule (nothing is written then).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'conflict'}
end
local inventory = tonumber(ARGV[1])
local n = (#ARGV - 2) / 4
local seen_booking, seen_user = {}, {}
local held, booked, claimed = 0, 0, 0
-- Every check comes before the first write: a script is not rolled back.
for i = 0, n - 1 do
  local b, u, s = ARGV[3 + 4 * i], ARGV[4 + 4 * i], ARGV[5 + 4 * i]
  if seen_booking[b] then
    return {'invalid', 'booking ' .. b .. ' appears twice'}
  end
  if seen_user[u] then
    return {'invalid', 'user of booking ' .. b .. ' has another active booking'}
  end
  seen_booking[b], seen_user[u] = true, true
  if s == 'H' then
    held = held + 1
  elseif s == 'B' then
    booked = booked + 1
  elseif s == 'Q' then
    claimed = claimed + 1
  else
    return {'invalid', 'booking ' .. b .. ' is neither held nor booked'}
  end
end
if held + booked + claimed > inventory then
  return {'invalid', 'more held and booked items than the inventory'}
end
-- Leftovers of an installation whose meta hash was lost would break the
-- one-per-user rule and the counts: the new epoch starts clean.
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
for i = 0, n - 1 do
  local b, u, s, e = ARGV[3 + 4 * i], ARGV[4 + 4 * i], ARGV[5 + 4 * i], ARGV[6 + 4 * i]
  if s ~= 'H' then
    e = '0'
  else
    redis.call('ZADD', KEYS[4], e, b)
  end
  redis.call('HSET', KEYS[2], u, b)
  fs_holder(u)  -- changes_head.lua
  redis.call('HSET', KEYS[3], b, s .. '|' .. e .. '|' .. u)
end
-- Last, so that a sale is present only once it is whole.
redis.call('HSET', KEYS[1], 'inventory', ARGV[1],
           'available', string.format('%d', inventory - held - booked - claimed),
           'held', held, 'booked', booked, 'claimed', claimed,
           'epoch', ARGV[2])
return {'ok'}
