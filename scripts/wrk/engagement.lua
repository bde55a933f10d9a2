-- POST /v1/items/{id}/engagement on items the single-item run created (t0-10 … t0-(N+9): wrk builds one request
-- per thread before the run that it never sends, so the lowest ids may not exist), counters rising.
function init(args)
  counter = 0
  n = tonumber(os.getenv("ITEMS") or "1000")
  key = os.getenv("WINNOW_KEY")
end
function request()
  counter = counter + 1
  local item = counter % n + 10
  local round = math.floor(counter / n) + 1
  local body = string.format('{"feed":"load","views":%d,"likes":%d,"shares":%d}', round * 7, round, math.floor(round / 3))
  return wrk.format("POST", "/v1/items/t0-" .. item .. "/engagement",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
