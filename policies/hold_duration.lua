-- hold_duration.lua - how long a booking holds its item before it expires.
--
-- Without settings every booking keeps its sale's hold_seconds (this
-- policy returns nil). Settings (policies.settings in the YAML config):
--   hold_seconds_<sale-id>      N        holds of that sale last N seconds
--   hold_group_<name>           "a, b"   user ids in group <name>
--   hold_group_<name>_seconds   N        holds of that group's users
-- A group's time wins over a sale's. N is 1 to 86400. Example:
--   settings:
--     hold_seconds_launch: 120
--     hold_group_vip: "alice, bob"
--     hold_group_vip_seconds: 600

local BY_SALE, BY_USER = {}, {}

local function seconds(name, v)
  if type(v) ~= "number" or v < 1 or v > 86400 then
    error(name .. " must be a number of seconds from 1 to 86400, got " .. tostring(v))
  end
  return v
end

for key, value in pairs(fs.settings) do
  local sale = string.match(key, "^hold_seconds_(.+)$")
  if sale then BY_SALE[sale] = seconds(key, value) end
  local group = string.match(key, "^hold_group_(.+)$")
  if group and not string.find(group, "_seconds$") then
    local secs = seconds("hold_group_" .. group .. "_seconds",
                         fs.settings["hold_group_" .. group .. "_seconds"])
    for user in string.gmatch(tostring(value), "[^,%s]+") do
      BY_USER[user] = secs
    end
  end
end

function hold_seconds(req)
  return BY_USER[req.user] or BY_SALE[req.sale]
end
