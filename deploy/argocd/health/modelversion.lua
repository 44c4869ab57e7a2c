-- Argo CD health check for rewind.dev/ModelVersion
-- (argocd-cm key `resource.customizations.health.rewind.dev_ModelVersion`).
--
-- Argo CD runs custom health checks in gopher-lua (Lua 5.1) with only the base, table and a safe os
-- library: no string library and no string methods, so this script uses `..` and tostring() only.
--
--   status.phase                              Argo CD health
--   (none yet)                                Progressing  (the operator has not registered it)
--   Available, Staging, Production, Archived  Healthy
--   Failed                                    Degraded     (rolled back by analysis; the latch holds)
--   Failed, label rewind.dev/failed removed   Healthy      (a human lifted the latch; phase is the record)
--   Invalid                                   Degraded     (e.g. a duplicate of an older ModelVersion)
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

-- The newest lifecycle entry for `phase`, which says why and in which ModelDeployment.
local function last_entry(status, phase)
  local found = nil
  if status.history ~= nil then
    for _, entry in ipairs(status.history) do
      if entry.phase == phase then
        found = entry
      end
    end
  end
  return found
end

local function describe(entry, fallback)
  if entry == nil or entry.reason == nil or entry.reason == "" then
    return fallback
  end
  if entry.deployment ~= nil and entry.deployment ~= "" then
    return fallback .. " in ModelDeployment " .. entry.deployment .. ": " .. entry.reason
  end
  return fallback .. ": " .. entry.reason
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Rewind operator to register this ModelVersion"
  return hs
end

local phase = status.phase
local labels = obj.metadata.labels
local latched = labels ~= nil and labels["rewind.dev/failed"] == "true"

if phase == "Failed" and latched then
  hs.status = "Degraded"
  hs.message = describe(last_entry(status, "Failed"), "Failed")
elseif phase == "Failed" then
  hs.status = "Healthy"
  hs.message = describe(last_entry(status, "Failed"), "Failed")
    .. " (latch lifted: label rewind.dev/failed removed)"
elseif phase == "Invalid" then
  local valid = condition(status, "Valid")
  hs.status = "Degraded"
  if valid ~= nil and valid.message ~= nil and valid.message ~= "" then
    hs.message = "Invalid: " .. valid.message
  else
    hs.message = "Invalid"
  end
elseif phase == "Available" or phase == "Staging" or phase == "Production" or phase == "Archived" then
  hs.status = "Healthy"
  hs.message = phase
  local pinned = condition(status, "ImagePinned")
  if pinned ~= nil and pinned.status == "False" and pinned.message ~= nil then
    hs.message = phase .. "; " .. pinned.message
  end
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
end
return hs
