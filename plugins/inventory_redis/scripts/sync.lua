-- sync.lua - reports the counts of every named sale to one subscriber, in
-- order with the changes the other scripts publish (Redis delivers a
-- connection's messages in the order they were published, whatever the
-- channel), so a report is never older than a change delivered before it.
-- KEYS: the meta hash of each sale   ARGV: the subscriber's own channel,
-- then "1" to report the users who hold an item too
-- Publishes, per sale with state, "a <sale> <user>" for each user who holds
-- or claimed an item (when asked) and "c <sale> <inventory> <available>
-- <held> <booked>"; "u <sale>" per sale without (never installed, or lost);
-- then "s 0" or "s 1" (the sync is complete, with holders or not).
-- Returns {"ok"}.
for _, key in ipairs(KEYS) do
  local sale = string.match(key, '{(.*)}:meta$')
  local m = redis.call('HMGET', key, 'inventory', 'available', 'held',
                       'booked')
  if m[1] and ARGV[2] == '1' then
    local users = string.gsub(key, ':meta$', ':users')
    for _, user in ipairs(redis.call('HKEYS', users)) do
      redis.call('PUBLISH', ARGV[1], 'a ' .. sale .. ' ' .. user)
    end
  end
  if m[1] then
    redis.call('PUBLISH', ARGV[1], 'c ' .. sale .. ' ' .. m[1] .. ' ' ..
               m[2] .. ' ' .. m[3] .. ' ' .. m[4])
  else
    redis.call('PUBLISH', ARGV[1], 'u ' .. sale)
  end
end
redis.call('PUBLISH', ARGV[1], 's ' .. ARGV[2])
return {'ok'}
