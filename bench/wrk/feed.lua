-- bench/wrk/feed.lua - GET /api/feed?limit=50 (the home feed, 50 items) as
-- rotating logged-in users.  Arguments and output: common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

function request()
  return chorus_request("GET", "/api/feed?limit=50")
end
