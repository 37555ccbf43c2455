-- bot_detection.lua - refuses automated clients and slows down addresses
-- that send more booking requests than people do.
--
-- By user agent (403 forbidden): a missing or empty User-Agent, and agents
-- of scripting libraries and headless browsers. curl and Wget are allowed
-- so that admins' own checks work. By address: deny-listed CIDRs get 403;
-- more than bot_ip_limit booking requests from one address, or more than
-- bot_net_limit from one /24 (IPv4) or /64 (IPv6), within the window get
-- 429 with Retry-After. Loopback is exempt from the address limits by
-- default (a local reverse proxy would otherwise put every client under
-- one address).
--
-- Many people can share one address (a carrier-grade NAT, an office, a
-- test): the address limits are set well above what one person does, so
-- that one busy address is slowed down, not every user behind it locked
-- out; the per-user limit (per_user_limit.lua) is what stops a single
-- account. Lower them only if no such crowds are expected.
--
-- X-Forwarded-For is ignored unless the connection comes from one of
-- bot_trusted_proxies; otherwise any client could claim any address.
--
-- Settings (policies.settings in the YAML config; lists are comma separated):
--   bot_block_empty_agent   true   403 for a missing or empty User-Agent
--   bot_agents              (see AGENTS below) replaces the built-in list
--   bot_extra_agents        ""     more agent substrings to refuse
--   bot_allow_agents        ""     agent substrings never refused
--   bot_ip_limit            600    booking requests per address per window
--   bot_net_limit           2400   per /24 or /64 per window
--   bot_window_seconds      60
--   bot_exempt_cidrs        "127.0.0.0/8, ::1"  no address limits
--   bot_allow_cidrs         ""     no checks at all (trusted partners)
--   bot_deny_cidrs          ""     always 403
--   bot_trusted_proxies     ""     proxies whose X-Forwarded-For is believed
-- Agent substrings match anywhere in the User-Agent, ignoring case.

local S = fs.settings

local AGENTS = "python-requests, python-urllib, python-httpx, aiohttp, " ..
  "go-http-client, scrapy, headlesschrome, phantomjs, selenium, puppeteer, " ..
  "playwright, libwww-perl, java/, apache-httpclient, okhttp, node-fetch, " ..
  "undici, axios/"

local function setting(name, default)
  local v = S[name]
  if v == nil then return default end
  return v
end

local function number(name, default)
  local v = setting(name, default)
  if type(v) ~= "number" or v < 1 then
    error(name .. " must be a number >= 1, got " .. tostring(v))
  end
  return v
end

local function words(text)
  local out = {}
  for w in string.gmatch(string.lower(tostring(text)), "[^,]+") do
    w = string.match(w, "^%s*(.-)%s*$")
    if w ~= "" then out[#out + 1] = w end
  end
  return out
end

local BLOCK_EMPTY = setting("bot_block_empty_agent", true) ~= false
local BAD = words(setting("bot_agents", AGENTS))
for _, w in ipairs(words(setting("bot_extra_agents", ""))) do BAD[#BAD + 1] = w end
local GOOD = words(setting("bot_allow_agents", ""))
local IP_LIMIT = number("bot_ip_limit", 600)
local NET_LIMIT = number("bot_net_limit", 2400)
local WINDOW = number("bot_window_seconds", 60)
local EXEMPT = fs.cidrs(setting("bot_exempt_cidrs", "127.0.0.0/8, ::1"))
local ALLOW = fs.cidrs(setting("bot_allow_cidrs", ""))
local DENY = fs.cidrs(setting("bot_deny_cidrs", ""))
local PROXIES = fs.cidrs(setting("bot_trusted_proxies", ""))

-- The client's address: the peer, or behind trusted proxies the right-most
-- X-Forwarded-For entry that is not itself a trusted proxy.
local function client_ip(req)
  local ip = req.ip
  local xff = req.headers["x-forwarded-for"]
  if ip == nil or xff == nil or not fs.ip_in(ip, PROXIES) then return ip end
  local hops = {}
  for hop in string.gmatch(xff, "[^,%s]+") do hops[#hops + 1] = hop end
  for i = #hops, 1, -1 do
    if fs.prefix(hops[i], 32, 128) == nil then return ip end
    if not fs.ip_in(hops[i], PROXIES) then return hops[i] end
  end
  return hops[1] or ip
end

local function contains_any(text, list)
  for _, w in ipairs(list) do
    if string.find(text, w, 1, true) then return true end
  end
  return false
end

local function agent_verdict(agent)
  if agent == nil or string.match(agent, "^%s*$") then
    if BLOCK_EMPTY then return "deny", "a User-Agent header is required" end
    return nil
  end
  local ua = string.lower(agent)
  if contains_any(ua, GOOD) then return nil end
  if contains_any(ua, BAD) then
    return "deny", "automated clients are not allowed"
  end
  return nil
end

function on_book(req)
  local ip = client_ip(req)
  if ip ~= nil and fs.ip_in(ip, ALLOW) then return nil end
  if ip ~= nil and fs.ip_in(ip, DENY) then
    return "deny", "requests from this network are not allowed"
  end
  local action, why = agent_verdict(req.user_agent)
  if action then return action, why end
  if ip == nil or fs.ip_in(ip, EXEMPT) then return nil end
  if fs.hit("ip\31" .. ip, WINDOW) > IP_LIMIT then return "slow", WINDOW end
  local net = fs.prefix(ip, 24, 64)
  if net and fs.hit("net\31" .. net, WINDOW) > NET_LIMIT then
    return "slow", WINDOW
  end
  return nil
end
