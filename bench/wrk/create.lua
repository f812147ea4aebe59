-- bench/wrk/create.lua - POST /api/tweet {"text": ...} (a new tweet, through
-- the two-phase commit) as rotating logged-in users, JSON with a same-site
-- Origin.  Arguments and output: common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

local words = {"coffee", "deploy", "latency", "#bench", "shard", "today",
               "again", "friends", "Zürich", "café", "weekend", "release"}

function request()
  seq = seq + 1
  local w1 = words[seq % #words + 1]
  local w2 = words[(seq * 7 + tid) % #words + 1]
  local text = string.format("wrk tweet %d.%d %s and %s", tid, seq, w1, w2)
  return chorus_request("POST", "/api/tweet", '{"text":"' .. text .. '"}')
end
