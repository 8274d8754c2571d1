-- Argo CD health of the kubemail kinds (group mail.kubemail.io: MailServer,
-- MailDomain, Mailbox, MailAlias, RelayPolicy). Every kind has a Ready
-- condition stamped with observedGeneration:
--   Ready True                       -> Healthy
--   Ready False                      -> Degraded (the message says what to fix)
--   Ready Unknown, missing, or about
--   an older generation of the spec  -> Progressing
local hs = {}
local generation = obj.metadata.generation

local function stale(observed)
  return observed ~= nil and generation ~= nil and observed < generation
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubemail operator to report status"
  return hs
end
if stale(obj.status.observedGeneration) then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubemail operator to observe generation " .. generation
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    local message = condition.reason or ""
    if condition.message ~= nil and condition.message ~= "" then
      message = message .. ": " .. condition.message
    end
    if stale(condition.observedGeneration) then
      hs.status = "Progressing"
      hs.message = "Waiting for the kubemail operator to observe generation " .. generation
    elseif condition.status == "True" then
      hs.status = "Healthy"
      hs.message = message
    elseif condition.status == "False" then
      hs.status = "Degraded"
      hs.message = message
    else
      hs.status = "Progressing"
      hs.message = message
    end
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
