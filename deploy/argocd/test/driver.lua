-- Run an Argo CD health script the way Argo CD does, outside Argo CD (the tests use it; so can you):
--
--   lua5.4 deploy/argocd/test/driver.lua deploy/argocd/health/modeldeployment.lua < object.lua
--
-- object.lua is Lua source returning the object as a table, e.g. `return {status = {phase = "Healthy"}}`
-- (the tests generate it from the JSON the API server returns). The output is two parts: the health
-- status on the first line, then the message.
--
-- Like Argo CD's custom health checks (gopher-lua, libraries closed), the script sees the global `obj`,
-- the base functions, `table` and a safe `os`, and nothing else: no `string`, `math`, `io` or `require`,
-- and string methods ("x"):sub() fail. A script that passes here does not lean on anything Argo CD lacks.
local VALID = { Healthy = true, Progressing = true, Degraded = true, Suspended = true, Missing = true, Unknown = true }
local BASE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget", "rawset",
  "select", "tonumber", "tostring", "type", "xpcall",
}

local function fail(message)
  io.stderr:write(message, "\n")
  os.exit(2)
end

local script_path = arg[1] or fail("usage: driver.lua HEALTH_SCRIPT < OBJECT_CHUNK")
local handle = io.open(script_path, "r") or fail("cannot read " .. script_path)
local source = handle:read("a")
handle:close()

local object_chunk, object_error = load(io.read("a"), "=object", "t", {})
if object_chunk == nil then
  fail("object: " .. object_error)
end

local env = { table = table, os = { time = os.time, date = os.date, clock = os.clock } }
for _, name in ipairs(BASE) do
  env[name] = _G[name]
end
env.obj = object_chunk()

local script, script_error = load(source, "@" .. script_path, "t", env)
if script == nil then
  fail(script_error)
end

local strings = getmetatable("")
local string_index = strings.__index
strings.__index = nil -- gopher-lua without the string library: no methods on strings
local ok, hs = pcall(script)
strings.__index = string_index

if not ok then
  fail("health script error: " .. tostring(hs))
end
if type(hs) ~= "table" then
  fail("health script returned " .. type(hs) .. ", not a table")
end
if not VALID[hs.status] then
  fail("invalid health status " .. tostring(hs.status))
end
if hs.message ~= nil and type(hs.message) ~= "string" then
  fail("message is a " .. type(hs.message) .. ", not a string")
end
io.write(hs.status, "\n", hs.message or "")
