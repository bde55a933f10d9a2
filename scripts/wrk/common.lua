-- Shared by items.lua and batch.lua: numbers wrk's threads (the global `tid` keeps ids unique per thread) and
-- returns the synthetic texts the load test posts (written for it; no data set text).
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

return {
  "are we still on for lunch tomorrow? the usual place at noon",
  "WINNER!! claim your FREE prize now, call 09061701461 before midnight",
  "great match last night, that second goal was something else",
  "you are an idiot and everyone here knows it",
  "new blog post: ten tips for growing tomatoes on a balcony https://example.org/tomatoes",
  "cheap meds online no prescription needed visit now",
  "happy birthday! hope the day is as lovely as you are",
  "the train is delayed again, twenty minutes this time",
}
