-- wrk script: authorized GET /items and POST /items mix (POST_PERCENT, default 20).
local token = os.getenv("TOKEN")
local post_percent = tonumber(os.getenv("POST_PERCENT") or "20")
local n = 0
request = function()
  n = n + 1
  local h = { ["authorization"] = "Bearer " .. token }
  if math.random(100) <= post_percent then
    h["content-type"] = "application/json"
    return wrk.format("POST", "/items", h, '{"title":"load","n":' .. n .. '}')
  end
  return wrk.format("GET", "/items?limit=5", h)
end
