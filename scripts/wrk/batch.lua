-- POST /v1/items:batch with BATCH_SIZE new items per request.
local texts = {
  "are we still on for lunch tomorrow? the usual place at noon",
  "WINNER!! claim your FREE prize now, call 09061701461 before midnight",
  "great match last night, that second goal was something else",
  "you are an idiot and everyone here knows it",
  "new blog post: ten tips for growing tomatoes on a balcony https://example.org/tomatoes",
  "cheap meds online no prescription needed visit now",
  "happy birthday! hope the day is as lovely as you are",
  "the train is delayed again, twenty minutes this time",
}
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  size = tonumber(os.getenv("BATCH_SIZE") or "1000")
  key = os.getenv("WINNOW_KEY")
end
function request()
  local items = {}
  for i = 1, size do
    counter = counter + 1
    items[i] = string.format('{"id":"b%d-%d","feed":"batch","text":"%s"}', tid, counter, texts[counter % #texts + 1])
  end
  local body = '{"items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/v1/items:batch", {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
