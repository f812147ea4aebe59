-- bench/wrk/timeline.lua - GET /api/tweet?limit=50 (the global timeline, 50
-- items) as rotating logged-in users.  Arguments and output: common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

function request()
  return chorus_request("GET", "/api/tweet?limit=50")
end
