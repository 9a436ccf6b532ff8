-- Run Lua code in a fresh interpreter of the same version as the one
-- running the specs, with the same module paths and a chosen environment.
--
--   local sub = require("spec.helpers.subprocess")
--   local out, ok = sub.lua("io.write(1)", { KADOA_API_KEY = "k", HOME = false })
--
-- env: name = string sets it, name = false removes it. Returns stdout and
-- whether the process exited with status 0.
--
-- Also the small shell and file helpers the specs share: quote, sh (a
-- command's whole output), exists, read (nil when missing), write.

local M = {}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

function M.sh(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("*a")
  f:close()
  return out
end

function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- The interpreter's command name: luajit, lua5.1, lua5.3, lua5.4.
M.interpreter = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

function M.command(env)
  local parts, sets = { "env" }, {}
  -- make asan: LeakSanitizer's own tracer dies (signal 11 inside the
  -- sanitizer) at the exit of some short children, by heap layout; children
  -- keep every AddressSanitizer check but the leak check, which the suite's
  -- own process still makes
  local asan = os.getenv("KADOA_ASAN") and os.getenv("ASAN_OPTIONS")
  if asan then sets[1] = quote("ASAN_OPTIONS=" .. asan .. ":detect_leaks=0") end
  for k, v in pairs(env or {}) do
    if v == false then
      parts[#parts + 1] = "-u " .. k      -- env wants every -u before any NAME=value
    else
      sets[#sets + 1] = quote(k .. "=" .. v)
    end
  end
  for _, s in ipairs(sets) do parts[#parts + 1] = s end
  parts[#parts + 1] = M.interpreter
  parts[#parts + 1] = "-e " .. quote(("package.path=%q package.cpath=%q"):format(package.path, package.cpath))
  return table.concat(parts, " ")
end

function M.lua(code, env, args)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(M.command(env) .. " " .. quote(path) .. " " .. (args or "") .. " 2>&1", "r"))
  local out = p:read("*a")
  local ok = p:close()
  os.remove(path)
  return out, ok == true or ok == 0
end

return M
