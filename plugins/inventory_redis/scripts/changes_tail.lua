end
-- changes_tail.lua - the second half of the wrapper (see changes_head.lua):
-- runs the body, and when it changed the sale's counts, publishes them on
-- "<prefix>:changes" as "c <sale> <inventory> <available> <held> <booked>",
-- in the same atomic step, so subscribers see every change in the order
-- Redis applied them. Nothing is published when nothing changed: a sold-out
-- or duplicate answer costs no message.
local fs_reply = fs_body()
local fs_after = fs_counts_now()
local fs_changed = false
for i = 1, 4 do
  if fs_after[i] ~= fs_counts_before[i] then
    fs_changed = true
  end
end
if fs_changed and fs_after[1] then
  local prefix, sale = string.match(KEYS[1], '^(.*):{(.*)}:meta$')
  redis.call('PUBLISH', prefix .. ':changes',
             'c ' .. sale .. ' ' .. tostring(fs_after[1]) .. ' ' ..
             tostring(fs_after[2]) .. ' ' .. tostring(fs_after[3]) .. ' ' ..
             tostring(fs_after[4]))
end
return fs_reply
