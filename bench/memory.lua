-- bench/memory.lua: the process's own memory figures, from /proc, for the
-- rows that report peak RSS (bench/many.lua, bench/export.lua).

local M = {}

-- kib(field) -> a VmRSS / VmHWM / ... figure of /proc/self/status in KiB
function M.kib(field)
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+) kB"))
end

-- reset_peak() -> true when the kernel let us reset the peak (writing "5"
-- to /proc/self/clear_refs): VmHWM then drops to VmRSS
function M.reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5")
  ok = f:close() and ok
  if not ok then return false end
  local hwm, rss = M.kib("VmHWM"), M.kib("VmRSS")
  return hwm ~= nil and rss ~= nil and hwm <= rss + 64
end

return M
