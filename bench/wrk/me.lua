-- bench/wrk/me.lua - GET /api/me: the cheapest logged-in route (the session
-- and the account, two lookups by _id), what every other route pays
-- before its own work.  Arguments and output: common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

function request()
  return chorus_request("GET", "/api/me")
end
