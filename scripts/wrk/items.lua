-- POST /v1/items, one new item per request (ids unique per thread), texts from a small synthetic set.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local texts = dofile(here .. "common.lua")
function init(args)
  counter = 0
  key = os.getenv("WINNOW_KEY")
  prefix = os.getenv("ID_PREFIX") or "t"  -- another prefix for another run against the same server (new ids)
end
function request()
  counter = counter + 1
  local body = string.format('{"id":"%s%d-%d","feed":"load","text":"%s"}', prefix, tid, counter, texts[counter % #texts + 1])
  return wrk.format("POST", "/v1/items", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
