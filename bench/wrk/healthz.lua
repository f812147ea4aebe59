-- bench/wrk/healthz.lua - GET /healthz: the HTTP layer alone (no database
-- access), the ceiling for any route on this machine.  Arguments and
-- output: common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

function request()
  return chorus_request("GET", "/healthz")
end
