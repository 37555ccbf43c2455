-- per_user_limit.lua - how often one user may ask for an item of one sale.
--
-- A user's 21st booking attempt on one sale within a minute is answered
-- 429 rate_limited with Retry-After (DESIGN.md section 7). Every attempt
-- counts, refused ones included, so a client that keeps hammering stays
-- slowed down until it pauses for a window.
--
-- The core's one-per-user rule (one queued, held or booked booking per user
-- and sale, 409 already_booked) always applies; this policy can only tighten
-- it: with user_cancel_cooldown_seconds set, a user who cancelled must wait
-- that long before booking in the same sale again.
--
-- Settings (policies.settings in the YAML config):
--   user_attempts_max             20  attempts per user, sale and window
--   user_window_seconds           60  the sliding window
--   user_cancel_cooldown_seconds   0  wait after a cancel (0: off)

local S = fs.settings

local function number(name, default, min)
  local v = S[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < min then
    error(name .. " must be a number >= " .. min .. ", got " .. tostring(v))
  end
  return v
end

local MAX = number("user_attempts_max", 20, 1)
local WINDOW = number("user_window_seconds", 60, 1)
local COOLDOWN = number("user_cancel_cooldown_seconds", 0, 0)

function on_book(req)
  if req.user == nil then return nil end
  local who = req.sale .. "\31" .. req.user
  if COOLDOWN > 0 and fs.count("cancelled\31" .. who, COOLDOWN) > 0 then
    return "slow", COOLDOWN
  end
  if fs.hit("attempts\31" .. who, WINDOW) > MAX then
    return "slow", WINDOW
  end
  return nil
end

function on_cancel(req)
  if COOLDOWN > 0 and req.user ~= nil then
    fs.hit("cancelled\31" .. req.sale .. "\31" .. req.user, COOLDOWN)
  end
  return nil
end
