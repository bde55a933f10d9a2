-- POST /v1/items:batch with BATCH_SIZE new items per request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local texts = dofile(here .. "common.lua")
function init(args)
  counter = 0
  size = tonumber(os.getenv("BATCH_SIZE") or "1000")
  key = os.getenv("WINNOW_KEY")
  prefix = os.getenv("ID_PREFIX") or "b"  -- another prefix for another run against the same server (new ids)
end
function request()
  local items = {}
  for i = 1, size do
    counter = counter + 1
    items[i] = string.format('{"id":"%s%d-%d","feed":"batch","text":"%s"}', prefix, tid, counter, texts[counter % #texts + 1])
  end
  local body = '{"items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/v1/items:batch", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
