-- changes_head.lua - the first half of the wrapper around every script that
-- can change a sale's counts (inventory_redis.c, inv_feed_scripts): it reads
-- the counts before the script's body runs. The body follows as a function,
-- so its own `return`s end the body, not the wrapper; changes_tail.lua
-- closes it. Not a script of its own.
local function fs_counts_now()
  return redis.call('HMGET', KEYS[1], 'inventory', 'available', 'held',
                    'booked')
end
local fs_counts_before = fs_counts_now()
-- A user took an item of the sale ("a <sale> <user>", the user last since
-- it may hold spaces): each daemon remembers who may hold one, to answer
-- that user already_booked, not sold_out, once the sale is sold out.
local function fs_holder(user)
  local prefix, sale = string.match(KEYS[1], '^(.*):{(.*)}:meta$')
  redis.call('PUBLISH', prefix .. ':changes', 'a ' .. sale .. ' ' .. user)
end
local function fs_body()
