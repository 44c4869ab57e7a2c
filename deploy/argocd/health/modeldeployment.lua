-- Argo CD health check for rewind.dev/ModelDeployment
-- (argocd-cm key `resource.customizations.health.rewind.dev_ModelDeployment`).
--
-- Argo CD runs custom health checks in gopher-lua (Lua 5.1) with only the base, table and a safe os
-- library: no string library and no string methods, so this script uses `..` and tostring() only.
--
--   status.phase   Argo CD health   why
--   Healthy        Healthy          the declared version serves and passed its bake window
--   Pending        Progressing      nothing serves yet
--   Progressing    Progressing      a canary, an update or a bake window is in flight
--   Paused         Suspended        spec.paused, a step without pause waiting for `kubectl rewind promote`,
--                                   or analysis inconclusive (Prometheus unreachable, no data)
--   Degraded       Degraded         a failure with nothing to roll back to, or automatic rollback off
--   RolledBack     Degraded         the version Git asked for failed and was rolled back: the last healthy
--                                   version serves, but the desired state was not reached
--   Blocked        Degraded         the version asked for is refused (Failed latch, skew guard, missing)
-- A spec the operator has not seen yet (observedGeneration < generation) is Progressing, whatever the phase.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function text(value, fallback)
  if value == nil or value == "" then
    return fallback
  end
  return value
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Rewind operator to report a status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Rewind operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local message = text(status.message, phase)
if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Progressing" or phase == "Pending" then
  hs.status = "Progressing"
  hs.message = message
elseif phase == "Paused" then
  hs.status = "Suspended"
  hs.message = message
elseif phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = message
elseif phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = "RolledBack: " .. message
elseif phase == "Blocked" then
  local blocked = condition(status, "Blocked")
  local reason = "Blocked"
  if blocked ~= nil and blocked.status == "True" then
    reason = text(blocked.reason, reason)
  end
  hs.status = "Degraded"
  hs.message = reason .. ": " .. message
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase) .. ": " .. message
end
return hs
